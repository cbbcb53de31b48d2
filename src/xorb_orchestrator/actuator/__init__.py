"""`xorb actuator slpf`: the OpenC2 Stateless Packet Filtering consumer we ship for Linux gateways (docs/openc2.md).

commands (with targets, arguments) parse and validate what a producer sends, purely; messages is the HTTPS
transfer layer (a bare command or a message envelope); rules is the rule book, state its file; nft_rules puts rules
into nftables; consumer carries commands out and ends timed rules; server is the HTTP front.
"""
