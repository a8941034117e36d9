"""The results store: round trip, corrupt records, non-stores, concurrent writers."""

import json
import multiprocessing
import os
import warnings

import pytest

from scalinglab.store import ResultsStore, StoreError


def make_record(run_id: str, loss: float = 1.0) -> dict:
    return {"run_id": run_id, "config": {"seed": 0}, "result": {"loss": loss}, "provenance": {"pid": os.getpid()}}


def test_round_trip(tmp_path):
    store = ResultsStore(tmp_path / "s", create=True)
    store.put(make_record("abc", 2.5))
    again = ResultsStore(tmp_path / "s")
    assert again.has("abc") and not again.has("xyz")
    assert again.get("abc") == make_record("abc", 2.5)  # provenance included: written and read in this process
    assert again.get("abc")["provenance"] == {"pid": os.getpid()}
    store.put(make_record("abc", 3.5))  # the same run again replaces its record
    assert again.get("abc") == make_record("abc", 3.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no record is corrupt: nothing to warn about
        records = again.load()
    assert records == [make_record("abc", 3.5)]
    assert len(again) == 1 and again.run_ids() == {"abc"} and list(again) == records


def test_not_a_store_is_named(tmp_path):
    with pytest.raises(StoreError, match="is not a results store"):
        ResultsStore(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StoreError, match="not empty"):
        ResultsStore(tmp_path, create=True)


def test_corrupt_record_is_named_and_others_still_load(tmp_path):
    store = ResultsStore(tmp_path / "s", create=True)
    store.put(make_record("good"))
    bad = store.record_path("bad")
    bad.write_text('{"run_id": "bad", "config": ')
    with pytest.warns(UserWarning, match="bad.json"):
        records = store.load()
    assert [r["run_id"] for r in records] == ["good"]
    with pytest.raises(StoreError, match="bad.json"):
        store.get("bad")


def test_record_without_required_fields_is_corrupt(tmp_path):
    store = ResultsStore(tmp_path / "s", create=True)
    store.record_path("partial").write_text(json.dumps({"run_id": "partial"}))
    with pytest.raises(StoreError, match=r"missing fields \['config', 'provenance', 'result'\]"):
        store.get("partial")
    with pytest.warns(UserWarning, match="partial.json"):
        assert store.load() == []
    with pytest.raises(StoreError, match="run_id"):
        store.put({"config": {}})


def _write_many(path: str, worker: int, n: int) -> None:
    store = ResultsStore(path)
    for i in range(n):
        # every worker writes the shared ids too: the same record from two writers
        store.put(make_record(f"shared{i % 5}", float(worker)))
        store.put(make_record(f"w{worker}-{i}", float(i)))


def test_concurrent_writers_leave_only_whole_records(tmp_path):
    path = tmp_path / "s"
    ResultsStore(path, create=True)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(str(path), w, 40)) for w in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=60)
        assert p.exitcode == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torn record would be warned about
        records = ResultsStore(path).load()
    assert len(records) == 3 * 40 + 5
    assert not [p for p in (path / "runs").iterdir() if not p.name.endswith(".json")]
