"""Record every golden history anew: `python -m tests.golden.record` (about a minute; starts its own stack).

Deletes the histories in this folder, then records the incident workflows (record_incidents), two bundled
playbook runs (record_playbooks), an incident answered by a playbook (record_incident_playbook) and a re-delivery
the cache forgot (record_redelivery).
tests/workflows/test_replay.py replays each file against today's code.

Record anew only when old executions no longer need to replay: before a release, or after a patch's old
branch was retired (see workflows/patches.py). A failing replay otherwise means the change needs
`workflow.patched(...)`, not new goldens.
"""

from __future__ import annotations

import asyncio

from tests.golden import record_incident_playbook, record_incidents, record_playbooks, record_redelivery
from tests.golden.replay import golden_histories


async def main() -> None:
    for old in golden_histories():
        old.unlink()
    await record_incidents.main()
    await record_playbooks.main()
    await record_incident_playbook.main()
    await record_redelivery.main()


if __name__ == "__main__":
    asyncio.run(main())
