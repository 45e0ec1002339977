"""Paged clip listings: limit, offset and order, without changing the default answer."""
from __future__ import annotations

import pytest

CYCLES = ["20251010_163000", "20251010_163100", "20251010_163200"]
CLIPS = {"test_stream1.mp4": b"a" * 10, "test_stream2.mp4": b"b" * 20}


@pytest.fixture
def tree(make_cycle) -> list[str]:
    for name in CYCLES:
        make_cycle(name, dict(CLIPS))
    return [f"{c}/{n}" for c in CYCLES for n in sorted(CLIPS)]


def names(videos: list[dict]) -> list[str]:
    return [f"{v['timestamp_dir']}/{v['filename']}" for v in videos]


def test_default_answer_is_unchanged(client, tree) -> None:
    body = client.get("/api/videos").get_json()
    assert set(body) == {"count", "videos"}
    assert names(body["videos"]) == tree


@pytest.mark.parametrize("query,expected", [
    ("limit=2", slice(0, 2)),
    ("limit=2&offset=3", slice(3, 5)),
    ("offset=4", slice(4, None)),
    ("limit=100&offset=6", slice(6, 6)),
])
def test_oldest_first_pages(client, tree, query: str, expected: slice) -> None:
    body = client.get(f"/api/videos?{query}").get_json()
    assert names(body["videos"]) == tree[expected]
    assert body["count"] == len(tree[expected])


@pytest.mark.parametrize("limit,offset", [(1, 0), (2, 1), (3, 3), (10, 0), (4, 5)])
def test_newest_first_pages_match_the_reversed_listing(client, tree, limit: int, offset: int) -> None:
    body = client.get(f"/api/videos?order=newest&limit={limit}&offset={offset}").get_json()
    assert names(body["videos"]) == list(reversed(tree))[offset:offset + limit]
    assert (body["order"], body["limit"], body["offset"]) == ("newest", limit, offset)


def test_pages_of_one_cycle(client, tree) -> None:
    body = client.get(f"/api/videos/{CYCLES[1]}?order=newest&limit=1").get_json()
    assert names(body["videos"]) == [f"{CYCLES[1]}/test_stream2.mp4"]
    assert body["timestamp"] == CYCLES[1]


@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "limit=x", "offset=-2", "offset=1.5",
                                   "order=random", "limit=10001", "limit=%EF%BC%91",
                                   "limit=1&limit=2", "order=", "limit=", "order=&limit=1"])
def test_bad_paging_is_400(client, tree, query: str) -> None:
    response = client.get(f"/api/videos?{query}")
    assert response.status_code == 400
    assert set(response.get_json()) == {"error", "message"}
