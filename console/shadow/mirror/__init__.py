"""The built-in exactly-once mirror and its exact offset map.

``topics`` checks and creates the target topics, ``positions`` reads the mirror's stored
source positions, ``copier`` is the copy loop, ``process`` the ``cutover mirror``
process body, and ``offset_map`` the exact map from source to target offsets. The names
callers use are re-exported here.
"""

from console.shadow.mirror.copier import Mirror, MirrorSettings, MirrorStats
from console.shadow.mirror.positions import mirror_positions, positions_topic, read_positions
from console.shadow.mirror.process import PROCESS, run
from console.shadow.mirror.topics import (
    HEADROOM_BYTES,
    MirrorError,
    TopicCheck,
    check_topics,
    ensure_target_topics,
    mirror_id,
)

__all__ = [
    "HEADROOM_BYTES",
    "PROCESS",
    "Mirror",
    "MirrorError",
    "MirrorSettings",
    "MirrorStats",
    "TopicCheck",
    "check_topics",
    "ensure_target_topics",
    "mirror_id",
    "mirror_positions",
    "positions_topic",
    "read_positions",
    "run",
]
