"""Every check survives odd Tencent Cloud data (ints as strings, None, wrong types) without crashing."""

from __future__ import annotations

import copy
import random

import pytest

from checks.model import Status
from checks.registry import default_registry
from tests import tencent_factories as tf
from tests.factories import run_check

ALL_IDS = [s.id for s in default_registry().all()]
ODD = [None, "", "x", 0, -1, "80", 3.5, [], {}, True, "ALL", "0.0.0.0/0"]


def _mutate(obj, rng, depth=0):
    if isinstance(obj, dict):
        for key in list(obj):
            if rng.random() < 0.25:
                obj[key] = rng.choice(ODD)
            else:
                _mutate(obj[key], rng, depth + 1)
    elif isinstance(obj, list):
        for i in range(len(obj)):
            if rng.random() < 0.15:
                obj[i] = rng.choice(ODD)
            else:
                _mutate(obj[i], rng, depth + 1)


@pytest.mark.parametrize("seed", range(40))
def test_no_check_crashes_on_odd_cloud_data(seed):
    rng = random.Random(seed)
    sc = tf.scenario(direct=seed % 2 == 0, healthy=[False, True], hc=tf.health_check(SourceIpType=seed % 3, CheckType="HTTP"), lb=tf.clb(snat_pro=True, snat_ips=("127.0.0.61",)))
    state = sc.state()
    tc = state.tencent
    for attr in ("load_balancers", "listeners", "targets", "target_health", "security_group_policies", "network_acls", "network_interfaces", "instances"):
        value = copy.deepcopy(getattr(tc, attr))
        _mutate(value, rng)
        setattr(tc, attr, value)
    for check_id in ALL_IDS:
        for finding in run_check(check_id, state, odd=True):
            assert not (finding.status == Status.ERROR and "crashed" in finding.summary), (check_id, finding.summary)
