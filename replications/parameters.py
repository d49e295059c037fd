"""The one check of a chapter run's parameters (``profile``, ``retrain``, ``seed``, ``device``,
``output_dir``): a notebook's set-up cell runs it through :func:`replications.chapter.start`, and the
runner's command line runs it before any notebook starts (:func:`replications.runner.check_request`), so
both reject the same input with the same message.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from scorelib import runtime
from scorelib.claims import PROFILES, check_profile
from scorelib.errors import ConfigError


def check_parameters(profile: Any, retrain: Any, seed: Any, device: Any, output_dir: Any = None,
                     profiles: Iterable[str] = PROFILES) -> None:
    """A :class:`ConfigError` that says how to fix the first bad parameter. ``profiles``: the chapter's
    profile names (default :data:`scorelib.claims.PROFILES`). Whether the device exists is
    :func:`scorelib.runtime.get_device`'s check, made right after this one by both callers."""
    check_profile(profile, profiles)
    if not isinstance(retrain, bool):
        raise ConfigError(f"retrain must be True or False, got {retrain!r} ({type(retrain).__name__})")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, got {seed!r} ({type(seed).__name__})")
    if not isinstance(device, str) or device.split(":")[0] not in runtime.DEVICE_CHOICES:
        raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(runtime.DEVICE_CHOICES)}")
    if output_dir is not None and not isinstance(output_dir, (str, os.PathLike)):
        raise ConfigError(f"output_dir must be a path or None, got {output_dir!r}")
    if profile != "full" and not retrain:
        raise ConfigError(
            f"profile {profile!r} has no committed artifacts (only 'full' does): run it with "
            f"retrain=True (runner: --profile {profile} --retrain)"
        )
