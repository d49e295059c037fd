"""What a chapter's run measured, apart from its seed: a short digest of the profile's configuration and of each
claim's criterion at that profile.

Every ``metrics.json`` records it (``"experiment_digest"``), and so does a sweep's ``summary.json`` (one digest for
all its seeds). A committed sweep whose digest is not the chapter's current one was measured on an earlier version
of the experiment (another training budget, test set or criterion): the chapter and the scoreboard then label it as
history instead of showing its verdicts beside today's (:mod:`replications.sweep_summary`). Wording (a claim's
source, quantity or control text) is not part of the digest; numbers and criteria are.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

from scorelib.claims import Claim
from scorelib.errors import ConfigError

#: The fields of a claim that decide its verdict at a profile (the tolerance is the profile's own).
CRITERION_FIELDS = ("id", "kind", "paper", "check", "min_pass_rate")


def experiment_digest(config: Any, claims: Sequence[Claim], profile: str) -> str:
    """sha256 (first 16 hex digits) of the profile's config without its seed, and of each claim's
    :data:`CRITERION_FIELDS` with its tolerance at ``profile``, in the order of their ids."""
    settings = asdict(config) if is_dataclass(config) else dict(config)
    settings.pop("seed", None)
    criteria = [{**{f: getattr(c, f) for f in CRITERION_FIELDS}, "tolerance": c.tolerance(profile)}
                for c in sorted(claims, key=lambda c: c.id)]
    text = json.dumps({"profile": profile, "config": settings, "claims": criteria}, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@functools.cache
def current_digest(chapter: str, profile: str) -> str:
    """The digest of ``replications.<chapter>.experiment`` as checked out: its ``PROFILES[profile]`` and ``CLAIMS``
    (once a process: the scoreboard asks for it at every claim)."""
    experiment = importlib.import_module(f"replications.{chapter}.experiment")
    if profile not in experiment.PROFILES:
        raise ConfigError(f"{chapter} has no profile {profile!r}: choose one of {sorted(experiment.PROFILES)}")
    return experiment_digest(experiment.PROFILES[profile], experiment.CLAIMS, profile)
