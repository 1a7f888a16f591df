"""loadsim generate --shard I/N and --merge: shards on many machines join into the bytes one run writes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from simulator.cli import main
from simulator.dataset import DatasetError, generate, runs
from simulator.dataset import shards as shards_module
from simulator.dataset.shards import SHARD_MANIFEST, SHARD_RECORDS, parse_shard
from simulator.dataset.writer import DATASET_MARK, merge
from simulator.journey import ENGINE_VERSION

ROOT = Path(__file__).resolve().parents[2]


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def shards(tmp_path: Path, scenario: str, count: int, **options: Any) -> list[Path]:
    dirs = []
    for i in range(count):
        d = tmp_path / f"shard-{i}"
        # One shard in two processes with small chunks: a shard's own runs are merged before it is kept.
        more = {"jobs": 2, "chunk_records": 300} if i == 1 else {}
        generate(scenario, out=d, shard=(i, count), **options, **more)
        dirs.append(d)
    return dirs


@pytest.mark.parametrize(
    ("scenario", "options"),
    [
        pytest.param("ecommerce", {"users": 160, "days": 3, "seed": 7}, id="csv"),
        pytest.param(
            "bad-clients",
            {"users": 120, "days": 2, "seed": 5, "table_format": "jsonl", "gzip_output": True},
            id="jsonl, gzip, faulty SDKs",
        ),
        pytest.param("ecommerce", {"users": 120, "days": 2, "table_format": "parquet"}, id="parquet"),
        pytest.param("smoke", {"users": 3, "days": 2, "gzip_output": True}, id="csv gzip, an empty shard"),
    ],
)
def test_four_shards_merged_are_the_single_run_byte_for_byte(
    tmp_path: Path, scenario: str, options: dict[str, Any]
) -> None:
    one = generate(scenario, out=tmp_path / "one", **options)
    dirs = shards(tmp_path, scenario, 4, **options)
    before = {d: files(d) for d in dirs}
    # Given in any order: the shards' indices decide.
    merged = merge(tmp_path / "merged", [dirs[2], dirs[0], dirs[3], dirs[1]])
    assert merged == one
    assert one["dataset"]["engine_version"] == ENGINE_VERSION  # what a later --merge checks
    assert files(tmp_path / "merged") == files(tmp_path / "one")
    assert {d: files(d) for d in dirs} == before, "the shards are read, never changed"
    assert not list((tmp_path / "merged").glob(".runs-*")), "temporary runs are removed"


def test_many_shards_merge_in_groups_without_touching_the_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past MAX_FAN_IN runs, the merge first merges groups into files of its own and deletes them:
    # never a shard's records.
    monkeypatch.setattr(runs, "MAX_FAN_IN", 2)
    options: dict[str, Any] = {"users": 50, "days": 2, "seed": 3}
    generate("smoke", out=tmp_path / "one", **options)
    dirs = shards(tmp_path, "smoke", 5, **options)
    before = {d: files(d) for d in dirs}
    merge(tmp_path / "merged", dirs)
    assert files(tmp_path / "merged") == files(tmp_path / "one")
    assert {d: files(d) for d in dirs} == before


def test_a_shard_is_not_a_dataset_until_merged(tmp_path: Path) -> None:
    out = tmp_path / "s"
    summary = generate("smoke", out=out, users=20, days=1, shard=(1, 2))
    assert summary["shard"] == {"index": 1, "count": 2, "low": 10, "high": 20}
    assert sorted(p.name for p in out.iterdir()) == [DATASET_MARK, "devices.part.csv", "records.run", "shard.json"]
    manifest = orjson.loads((out / SHARD_MANIFEST).read_bytes())
    assert manifest["stats"]["devices"] == 10


@pytest.mark.parametrize(
    ("text", "want"),
    [("0/4", (0, 4)), ("3/4", (3, 4)), (" 0 / 1 ", (0, 1))],
)
def test_shard_parses(text: str, want: tuple[int, int]) -> None:
    assert parse_shard(text) == want


@pytest.mark.parametrize("text", ["4/4", "1", "a/b", "-1/4", "0/0", "1/4/8", ""])
def test_a_malformed_shard_is_refused_naming_the_flag(text: str) -> None:
    with pytest.raises(DatasetError, match="--shard"):
        parse_shard(text)


@pytest.fixture
def two(tmp_path: Path) -> list[Path]:
    return shards(tmp_path, "smoke", 2, users=30, days=1)


def test_merge_refuses_a_missing_shard(tmp_path: Path, two: list[Path]) -> None:
    with pytest.raises(DatasetError, match=r"shard\(s\) 1/2 missing .*--shard 1/2"):
        merge(tmp_path / "out", [two[0]])
    assert not (tmp_path / "out").exists(), "nothing is written before the shards are checked"


def test_merge_refuses_a_shard_given_twice(tmp_path: Path, two: list[Path]) -> None:
    with pytest.raises(DatasetError, match="both shard 0/2"):
        merge(tmp_path / "out", [two[0], two[1], two[0]])


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"seed": 99}, r"seed \d+ vs 99"),
        ({"days": 2}, "days 1 vs 2"),
        ({"users": 31}, r"devices \(--users\) 30 vs 31"),
        ({"table_format": "jsonl"}, "table_format 'csv' vs 'jsonl'"),
        ({"gzip_output": True}, "gzip False vs True"),
    ],
)
def test_merge_refuses_shards_of_different_datasets(
    tmp_path: Path, two: list[Path], options: dict[str, Any], named: str
) -> None:
    other = tmp_path / "other"
    generate("smoke", out=other, **{"users": 30, "days": 1, **options}, shard=(1, 2))
    # The folders in the order of their values (before: "other and shard-0 ... (seed 1 vs 99)").
    said = f"{re.escape(str(two[0]))} and {re.escape(str(other))} are shards of different datasets .*({named})"
    with pytest.raises(DatasetError, match=said):
        merge(tmp_path / "out", [two[0], other])


def test_the_merge_is_the_same_whatever_order_the_shards_are_given_in(tmp_path: Path) -> None:
    """Two hosts' checkouts hold the same scenario at different paths, which the merge allows. Before: the
    dataset's scenario_ref (summary.json, README.md) was the first folder's given, so --merge A B and
    --merge B A wrote different bytes."""
    text = (ROOT / "simulator" / "scenarios" / "smoke.toml").read_text()
    dirs = []
    for i, host in enumerate(("host-a", "host-b")):
        scenario = tmp_path / host / "smoke.toml"
        scenario.parent.mkdir()
        scenario.write_text(text)
        dirs.append(tmp_path / f"shard-{i}")
        generate(scenario, out=dirs[-1], users=30, days=1, shard=(i, 2))
    merge(tmp_path / "in-order", dirs)
    merge(tmp_path / "reversed", dirs[::-1])
    assert files(tmp_path / "in-order") == files(tmp_path / "reversed")
    summary = orjson.loads((tmp_path / "reversed" / "summary.json").read_bytes())
    assert summary["dataset"]["scenario_ref"] == str(tmp_path / "host-a" / "smoke.toml")  # shard 0's


def test_merge_refuses_shards_of_a_different_count(tmp_path: Path, two: list[Path]) -> None:
    other = tmp_path / "other"
    generate("smoke", out=other, users=30, days=1, shard=(1, 3))
    with pytest.raises(DatasetError, match="shard count N 2 vs 3"):
        merge(tmp_path / "out", [two[0], other])


def test_merge_refuses_an_unfinished_or_partly_copied_shard(tmp_path: Path, two: list[Path]) -> None:
    (two[1] / SHARD_MANIFEST).unlink()  # what a shard killed before its end leaves
    with pytest.raises(DatasetError, match=f"{two[1]} has no shard.json: a shard that did not finish"):
        merge(tmp_path / "out", two)
    generate("smoke", out=two[1], users=30, days=1, shard=(1, 2))
    records = two[1] / SHARD_RECORDS
    records.write_bytes(records.read_bytes()[:-10])  # copied in part
    with pytest.raises(DatasetError, match=r"records\.run is missing or not the"):
        merge(tmp_path / "out", two)
    with pytest.raises(DatasetError, match="is not a folder"):
        merge(tmp_path / "out", [two[0], tmp_path / "nowhere"])
    with pytest.raises(DatasetError, match="it is a dataset, not a shard"):
        merge(tmp_path / "out2", [two[0], _dataset(tmp_path)])


def _dataset(tmp_path: Path) -> Path:
    generate("smoke", out=tmp_path / "a-dataset", users=5, days=1)
    return tmp_path / "a-dataset"


def test_a_failed_merge_leaves_the_dataset_already_there_untouched(tmp_path: Path, two: list[Path]) -> None:
    """Every shard is read whole before the output folder is touched: a damaged one used to cost
    the good dataset already in OUT (its files truncated, a stale README left)."""
    out = tmp_path / "out"
    merge(out, two)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    records = two[1] / SHARD_RECORDS
    data = records.read_bytes()
    records.write_bytes(data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) + data[len(data) // 2 + 1 :])
    with pytest.raises(DatasetError, match=r"records\.run cannot be read \(.*damaged"):
        merge(out, two)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def sealed(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest edited here, with the checksum its writer would have given it."""
    return {**manifest, "checksum": shards_module._checksum(manifest)}


def test_a_damaged_or_edited_devices_file_or_manifest_is_refused(tmp_path: Path, two: list[Path]) -> None:
    """The size matched, one byte did not: a devices row (a last_seen an hour off) or a statistic
    edited in shard.json merged into a dataset whose summary disagreed with its files."""
    rows = two[1] / "devices.part.csv"
    good = rows.read_bytes()
    rows.write_bytes(good[:100] + bytes([good[100] ^ 1]) + good[101:])
    with pytest.raises(DatasetError, match=r"devices\.part\.csv is damaged"):
        merge(tmp_path / "out", two)
    rows.write_bytes(good)
    manifest_path = two[1] / SHARD_MANIFEST
    text = manifest_path.read_bytes()
    edited = text.replace(b'"sessions": ', b'"sessions": 9', 1)
    assert edited != text
    manifest_path.write_bytes(edited)
    with pytest.raises(DatasetError, match="damaged or was edited"):
        merge(tmp_path / "out", two)
    assert not (tmp_path / "out" / "summary.json").exists()
    manifest_path.write_bytes(text)
    merge(tmp_path / "out", two)  # as written, they merge


def test_a_shard_damaged_on_its_way_is_refused_not_merged(tmp_path: Path, two: list[Path]) -> None:
    """A shard copied over a bad disk or network: one byte of one body changed, the size and the
    structure intact. Merged, it would be a valid-looking dataset with a wrong request in it."""
    records = two[1] / SHARD_RECORDS
    data = bytearray(records.read_bytes())
    at = data.index(b'"event_name":"') + len(b'"event_name":"')
    data[at] ^= 0x20  # a letter's case: still valid JSON, still a line
    records.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"records\.run cannot be read \(.*damaged"):
        merge(tmp_path / "out", two)
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_shard_is_read_as_numbers_and_bytes_never_unpickled(tmp_path: Path, two: list[Path]) -> None:
    """records.run is raw keys, lengths and lines: a damaged one (its manifest's size matching) is
    a DatasetError naming what is wrong, and a shard of the earlier pickled format is refused."""
    records = two[1] / SHARD_RECORDS
    good = records.read_bytes()
    manifest_path = two[1] / SHARD_MANIFEST
    manifest = orjson.loads(manifest_path.read_bytes())
    records.write_bytes(good[: len(good) // 2])
    manifest["files"][SHARD_RECORDS] = len(good) // 2
    manifest_path.write_bytes(orjson.dumps(sealed(manifest)))
    with pytest.raises(DatasetError, match=r"records\.run cannot be read \(.*ends inside"):
        merge(tmp_path / "out", two)
    assert not (tmp_path / "out" / "summary.json").exists()
    del manifest["records_format"]  # what a loadsim that pickled its shards wrote
    manifest_path.write_bytes(orjson.dumps(sealed(manifest)))
    with pytest.raises(DatasetError, match="keeps its records as 'a pickle'"):
        merge(tmp_path / "out", two)


def test_a_shard_of_a_loadsim_whose_journeys_differ_is_refused(tmp_path: Path, two: list[Path]) -> None:
    """A shard written before the in-session draws became counter-based (its manifest has no
    engine_version) holds other lives for the same seed: merged with today's shards, the dataset
    would be neither run's, with every other check passing."""
    manifest_path = two[1] / SHARD_MANIFEST
    manifest = orjson.loads(manifest_path.read_bytes())
    manifest.pop("engine_version", None)
    manifest_path.write_bytes(orjson.dumps(sealed(manifest)))
    with pytest.raises(DatasetError, match=rf"journeys differ \(engine version 1, this loadsim's is {ENGINE_VERSION}"):
        merge(tmp_path / "out", two)
    assert not (tmp_path / "out" / "summary.json").exists()


def test_merge_into_a_shard_folder_is_refused(two: list[Path]) -> None:
    with pytest.raises(DatasetError, match="is one of the shard folders"):
        merge(two[0], two)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--merge", "OUT", "S0", "S1", "--seed", "3"], "drop --seed"),
        (["--merge", "OUT", "S0", "--format", "jsonl"], "drop --format"),
        (["--merge", "OUT"], "--merge needs the output folder, then the shard folders"),
        (["smoke", "--out", "X", "--shard", "2/2"], "--shard I/N needs"),
        (["--out", "X"], "needs a SCENARIO and --out DIR"),
        (["smoke"], "needs a SCENARIO and --out DIR"),
    ],
)
def test_the_cli_says_what_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["generate", *args])
    assert exit_.value.code == 2
    assert said in capsys.readouterr().err
    assert not list(tmp_path.iterdir()), "nothing written"


@pytest.mark.integration
def test_shards_through_the_real_cli_merge_to_the_single_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = ["ecommerce", "--users", "90", "--days", "2", "--seed", "3", "--quiet"]

    def loadsim(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "simulator", "generate", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    loadsim(*common, "--out", "one")
    for i in range(4):
        assert f"shard {i}/4" in loadsim(*common, "--out", f"s{i}", "--shard", f"{i}/4")
    assert "wrote merged/" in loadsim("--merge", "merged", "s0", "s1", "s2", "s3", "--quiet")
    assert files(tmp_path / "merged") == files(tmp_path / "one")


def test_an_empty_shard_says_it_holds_no_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: 3 devices in 5 shards: "wrote shard 0/5 (devices 0 to -1)", shard 1/5 "(devices 0 to 0)"."""
    monkeypatch.chdir(tmp_path)
    said = []
    for i in range(5):
        assert (
            main(["generate", "smoke", "--users", "3", "--days", "1", "--quiet", "--out", f"s{i}", "--shard", f"{i}/5"])
            == 0
        )
        said.append(capsys.readouterr().out)
    shown = [line.split("(")[1].split(")")[0] for line in said]
    assert shown == ["no device", "device 0", "no device", "device 1", "device 2"], said
