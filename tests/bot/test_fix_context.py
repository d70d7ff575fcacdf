"""The fix engine's context for a configured cluster: its region goes to its cloud's provider settings."""

from __future__ import annotations

from bot.approvals_jobs import fix_context
from bot.settings import ClusterConfig


def test_the_configured_region_goes_to_the_configured_cloud():
    tke = fix_context(None, ClusterConfig(name="gz", context="tke-gz", cloud="tencent", region="ap-guangzhou"), None, True)
    assert tke.clients.context == "tke-gz" and tke.cloud_writes
    assert tke.clients.of("tencent") == {"region": "ap-guangzhou"} and tke.clients.of("aws") == {}


def test_a_region_with_no_cloud_goes_to_each_provider_and_no_region_gives_no_settings():
    detected = fix_context(None, ClusterConfig(name="eks", context="eks", region="us-east-1"), None, False)
    unset = fix_context(None, ClusterConfig(name="gz", cloud="tencent"), None, False)
    assert detected.clients.of("aws") == {"region": "us-east-1"} == detected.clients.of("tencent")
    assert unset.clients.cloud == {}
    assert fix_context(None, None, None, False).clients.context is None


def test_an_offline_cluster_has_no_fix_context():
    assert fix_context(None, ClusterConfig(name="demo", sources=["examples/x"]), None, False) is None
