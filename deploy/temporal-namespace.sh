#!/bin/sh
# One-shot job (temporalio/admin-tools image): wait for the Temporal frontend,
# create the namespace the orchestrator uses if it is missing, and wait until
# the frontend actually serves it. Idempotent.
#
# The orchestrator registers its own search attributes (XorbStatus,
# XorbSeverity) at start-up, so nothing else is set up here.
set -eu

ADDRESS=${TEMPORAL_ADDRESS:-temporal:7233}
NAMESPACE=${TEMPORAL_NAMESPACE:-default}
RETENTION=${TEMPORAL_NAMESPACE_RETENTION:-168h}

# The server listens on IPv4 only (BIND_ON_IP=0.0.0.0); use the IPv4 address in
# case the resolver hands out an IPv6 one first.
host=${ADDRESS%:*}
port=${ADDRESS##*:}
ipv4=$(getent ahosts "$host" 2>/dev/null | awk '$1 ~ /^[0-9.]+$/ { print $1; exit }' || true)
if [ -n "$ipv4" ]; then
    ADDRESS="$ipv4:$port"
fi

retry() { # retry <attempts> <command...>: 2 s apart
    attempts=$1
    shift
    n=1
    until "$@"; do
        if [ "$n" -ge "$attempts" ]; then
            return 1
        fi
        n=$((n + 1))
        sleep 2
    done
}

ns_exists() {
    temporal operator namespace describe --namespace "$NAMESPACE" --address "$ADDRESS" >/dev/null 2>&1
}

echo "Waiting for Temporal at $ADDRESS"
retry 60 temporal operator cluster health --address "$ADDRESS"

if ns_exists; then
    echo "Namespace '$NAMESPACE' exists"
else
    echo "Creating namespace '$NAMESPACE' (retention $RETENTION)"
    # A concurrent creator may win the race; then it simply exists.
    temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
        --address "$ADDRESS" || ns_exists
fi

# A new namespace is usable only after the frontend's namespace cache refreshes
# (about 10 s); workers started before that fail with "namespace not found".
echo "Waiting until namespace '$NAMESPACE' is served"
retry 30 temporal workflow count --namespace "$NAMESPACE" --address "$ADDRESS" >/dev/null
echo "Namespace '$NAMESPACE' is ready"
