"""Nodes: the hosts inventory (sources.md §12.1) overlaid with the P2P cluster status (§13.5).

The reference probes each host over SSH; this reader does not. Membership, GPU type and
ephemerality come from ``config/distributed_hosts.yaml``; GPU memory from the inventory's
``gpu_vram_gb`` (0 when absent); load and running jobs from ``/api/cluster/status`` when a URL is
configured (the last good status is kept while the endpoint fails).
"""

from __future__ import annotations

import json
import math
import time
import types
from collections.abc import Mapping
from typing import Any

import attrs

from selfplay_core.cluster import NodeCapability
from selfplay_shell.sources._base import ReadContext, Reading
from selfplay_shell.sources._files import is_number, parse_yaml, read_text
from selfplay_shell.sources._http import http_get
from selfplay_shell.sources.errors import SourceFailure

PROBED_STATUSES = frozenset({"ready", "active"})
EPHEMERAL_MARKERS = ("vast-", "runpod-", "spot-", "ephemeral-")


@attrs.frozen
class InventoryHost:
    node_id: str
    gpu: str
    gpu_memory_gb: float


@attrs.frozen
class PeerStatus:
    """What the P2P status says of one peer (only online peers are used)."""

    online: bool
    gpu_percent: float | None
    selfplay_jobs: int | None
    disk_usage_percent: float | None = None  # the key the reference's disk reader asks for
    disk_percent: float | None = None  # the key the P2P endpoint actually sends


def is_ephemeral(node_id: str) -> bool:
    lowered = node_id.lower()
    return any(marker in lowered for marker in EPHEMERAL_MARKERS)


def read_inventory(ctx: ReadContext) -> Reading[tuple[InventoryHost, ...]]:
    candidates = ctx.anchors.expand_all(ctx.config.hosts_yaml_candidates)
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise SourceFailure("missing", "no hosts inventory", " | ".join(str(c) for c in candidates))
    data = parse_yaml(read_text(path), path)
    hosts = data.get("hosts") if isinstance(data, dict) else None
    if not isinstance(hosts, dict):
        raise SourceFailure("invalid", "no 'hosts' mapping at top level", str(path))
    found: list[InventoryHost] = []
    problems: list[str] = []
    for node_id, entry in hosts.items():
        if not isinstance(entry, dict):
            problems.append(f"hosts.{node_id}: not a mapping; skipped")
            continue
        if entry.get("status") not in PROBED_STATUSES:
            continue
        vram = entry.get("gpu_vram_gb", 0.0)
        if not is_number(vram) or not math.isfinite(vram) or vram < 0:
            problems.append(f"hosts.{node_id}.gpu_vram_gb: {vram!r} is not a size; using 0")
            vram = 0.0
        gpu = entry.get("gpu")
        found.append(InventoryHost(str(node_id), str(gpu) if gpu else "unknown", float(vram)))
    found.sort(key=lambda host: host.node_id)
    return Reading(tuple(found), tuple(problems))


def fetch_cluster_status(ctx: ReadContext) -> Reading[Mapping[str, PeerStatus]]:
    url = ctx.config.cluster_status_url
    if not url:
        raise SourceFailure("missing", "no cluster_status_url configured")
    # One total deadline for the whole exchange (a trickling server cannot stretch it).
    deadline = min(ctx.deadline, time.monotonic() + ctx.config.http_timeout_seconds)
    body = http_get(url, deadline=deadline)
    try:
        data = json.loads(body)
    except RecursionError as exc:
        raise SourceFailure("http", "response is not JSON: nesting too deep", url) from exc
    except ValueError as exc:  # bad UTF-8, bad JSON, an integer past the digit limit
        raise SourceFailure("http", f"response is not JSON: {exc}", url) from exc
    return _parse_status(data, url)


def _parse_status(data: Any, url: str) -> Reading[Mapping[str, PeerStatus]]:
    if not isinstance(data, dict) or not isinstance(data.get("peers"), list):
        raise SourceFailure("http", "response has no 'peers' list", url)
    if data.get("success") is False:
        raise SourceFailure("http", f"status says failure: {data.get('error')!r}", url)
    peers: dict[str, PeerStatus] = {}
    problems: list[str] = []
    for index, peer in enumerate(data["peers"]):
        if not isinstance(peer, dict) or not isinstance(peer.get("node_id"), str):
            problems.append(f"peers[{index}]: no node_id; skipped")
            continue
        jobs = peer.get("selfplay_jobs")
        peers[peer["node_id"]] = PeerStatus(
            online=peer.get("status", "online") == "online",
            gpu_percent=_number(peer.get("gpu_percent")),
            selfplay_jobs=int(jobs) if type(jobs) is int and jobs >= 0 else None,
            disk_usage_percent=_number(peer.get("disk_usage_percent")),
            disk_percent=_number(peer.get("disk_percent")),
        )
    return Reading(types.MappingProxyType(dict(sorted(peers.items()))), tuple(problems))


def _number(value: object) -> float | None:
    return float(value) if is_number(value) and math.isfinite(value) else None


def peer_disk_percents(
    peers: Mapping[str, PeerStatus] | None, *, accept_disk_percent: bool
) -> Mapping[str, float]:
    """Disk use per reporting peer (every peer, online or not, as the reference averages)."""
    found: dict[str, float] = {}
    for node_id, peer in (peers or {}).items():
        value = peer.disk_usage_percent
        if value is None and accept_disk_percent:
            value = peer.disk_percent
        if value is not None:
            found[node_id] = value
    return found


def combine_nodes(
    hosts: tuple[InventoryHost, ...], peers: Mapping[str, PeerStatus] | None
) -> tuple[NodeCapability, ...]:
    """One NodeCapability per inventory host, in node-id order; online peers supply load/jobs."""
    nodes: list[NodeCapability] = []
    for host in hosts:
        peer = peers.get(host.node_id) if peers is not None else None
        load = 0.0
        jobs = 0
        if peer is not None and peer.online:
            load = peer.gpu_percent / 100.0 if peer.gpu_percent is not None else 0.0
            jobs = peer.selfplay_jobs if peer.selfplay_jobs is not None else 0
        nodes.append(
            NodeCapability(
                node_id=host.node_id,
                gpu_type=host.gpu,
                gpu_memory_gb=host.gpu_memory_gb,
                is_ephemeral=is_ephemeral(host.node_id),
                current_load=load,
                current_jobs=jobs,
            )
        )
    return tuple(nodes)
