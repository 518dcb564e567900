"""Each chapter's reference run: recording, comparing, and gaputils.reproduce end to end."""

import json
import re
from pathlib import Path

import pytest

from gaputils import reference, reproduce

ROOT = Path(__file__).resolve().parent.parent


def test_record_only_where_reproduce_asks(tmp_path, monkeypatch):
    monkeypatch.delenv(reference.RECORD_ENV, raising=False)
    assert reference.record("42", {"a": 1.0}) is None
    monkeypatch.setenv(reference.RECORD_ENV, str(tmp_path))
    c = reference.curve([1, 2], [3, 4], "x (units)", "y (units)", log_x=True)
    reference.record("42", {"a": 1.0})
    path = reference.record("42", {"b": 2}, {"c": c})  # a second call adds to the first
    assert json.loads(path.read_text()) == {"numbers": {"a": 1.0, "b": 2.0}, "curves": {"c": c}}


def test_a_long_curve_keeps_evenly_spaced_points_and_its_ends():
    c = reference.curve(range(1001), range(0, 2002, 2), "x", "y", points=11)
    assert c["x"] == [float(v) for v in range(0, 1001, 100)] and c["y"][-1] == 2000.0


def test_a_curve_needs_matching_lengths():
    with pytest.raises(ValueError, match="as many x as y"):
        reference.curve([1, 2, 3], [1, 2], "x", "y")


def test_agreement_is_statistical_and_says_what_to_conclude():
    ci = lambda est, half: {"gap": est, "  95% CI low": est - half, "  95% CI high": est + half}
    mine = {"seeds": 5} | ci(0.90, 0.75) | {"acc": 85.1}
    ref = {"seeds": 5} | ci(0.77, 1.05) | {"acc": 84.9}  # ch01 on two machines, as in issue 33
    line = reference.agreement(mine, ref)
    assert "1 of 1 estimates with intervals agree" in line and "1 of 1 counts are equal" in line
    assert "1 other numbers of trained networks are shown, not tested" in line
    assert "reproduces the reference within seed noise" in line
    far = reference.agreement({"seeds": 5} | ci(2.5, 0.3), ref)  # |2.5 - 0.77| > hypot(.3, 1.05)
    assert "0 of 1 estimates" in far and "(not: gap)" in far and "one comparison in twenty" in far
    assert "differs from the reference in what it counts" in reference.agreement(
        {"seeds": 10} | ci(0.9, 0.3), ref)
    assert "nothing here carries an interval" in reference.agreement({"a": 1.0}, {"a": 1.1})
    assert "all 2 numbers are identical" in reference.agreement({"a": 1.0, "b": 2.0},
                                                                {"a": 1.0, "b": 2.0})
    assert reference.intervals(mine) == {"gap": pytest.approx((0.90, 0.15, 1.65))}


def _ref(mode: str, acc: float) -> dict:
    return {"mode": mode, "device": "x86_64, 2 CPU cores", "date": "2026-01-01",
            "elapsed_seconds": 90.0, "command": f"python -m gaputils.reproduce --mode {mode}",
            "numbers": {"acc %": acc}, "curves": {}}


def test_compare_prints_both_columns_and_the_label(capsys, monkeypatch):
    monkeypatch.setattr(reference, "runs", lambda chapter: [_ref("standard", 91.25)])
    monkeypatch.setenv("GAPUTILS_MODE", "smoke")
    assert reference.compare("00", {"acc %": 80.5, "new": 3.0}, show=False) is None  # no echo
    out = capsys.readouterr().out
    assert "reference run on x86_64, 2 CPU cores (standard mode, 2026-01-01, 2 min)" in out
    assert re.search(r"acc %\s+80\.5\s+91\.25", out) and re.search(r"new\s+3\s+-", out)
    assert "estimates with intervals" not in out  # other mode: no agreement, a line saying so
    assert "no reference run in smoke mode is committed, so this run's agreement is not" in out
    monkeypatch.setattr(reference, "runs", lambda chapter: [])
    reference.compare("03", {"acc %": 80.5}, show=False)
    assert "--mode paper --chapter 3 makes one" in capsys.readouterr().out


def test_compare_shows_every_reference_run_and_agrees_with_its_own_mode(capsys, monkeypatch):
    refs = [_ref("paper", 93.5), _ref("standard", 80.5)]
    monkeypatch.setattr(reference, "runs", lambda chapter: refs)
    monkeypatch.setenv("GAPUTILS_MODE", "standard")
    reference.compare("00", {"acc %": 80.5}, show=False)
    out = capsys.readouterr().out
    assert "(paper mode" in out and "(standard mode" in out
    assert re.search(r"this run \(standard\)\s+reference \(paper\)\s+reference \(standard\)",
                     out)
    assert re.search(r"acc %\s+80\.5\s+93\.5\s+80\.5", out)
    assert "all 1 numbers are identical" in out  # measured against the standard-mode run


def test_runs_lists_the_committed_reference_runs_paper_first():
    modes = [r["mode"] for r in reference.runs("00")]
    assert "standard" in modes and modes == sorted(set(modes), key=reference.MODES.index)
    assert reference.runs("no such chapter") == []


def test_every_chapter_has_a_reference_run_with_the_numbers_it_records():
    for chapter, path in reproduce.sources().items():
        refs = reference.runs(chapter)
        assert refs, f"chapter {chapter} has no committed reference run"
        for ref in refs:
            assert ref["chapter"] == chapter and ref["numbers"] and ref["mode"] in reference.MODES
            assert {"command", "device", "torch", "date", "elapsed_seconds"} <= set(ref)
        assert f'gu.reference.compare("{chapter}"' in path.read_text()


CHAPTER = """\
# %%
import gaputils as gu

gu.reference.compare("{n}", {{"answer": 42.0, "mode is smoke": gu.mode() == "smoke"}},
                     {{"line": gu.reference.curve([1, 2], [3, 5], "x", "y")}}, show=False)
"""


def test_reproduce_writes_what_chapters_record_and_reports_failures(tmp_path, capsys):
    chapters, out = tmp_path / "chapters", tmp_path / "out"
    chapters.mkdir()
    (chapters / "97_fine.py").write_text(CHAPTER.format(n="97"))
    (chapters / "98_silent.py").write_text("# %%\nx = 1\n")
    (chapters / "99_broken.py").write_text(CHAPTER.format(n="99") + "raise ValueError('boom')\n")
    code = reproduce.main(["--mode", "smoke", "--chapters", str(chapters), "--out", str(out),
                           "--executed", str(tmp_path / "nb")])
    assert code == 1
    got = json.loads((out / "ch97_smoke.json").read_text())
    assert got["numbers"] == {"answer": 42.0, "mode is smoke": 1.0}
    assert got["curves"]["line"]["y"] == [3.0, 5.0]
    assert got["command"] == "python -m gaputils.reproduce --mode smoke --chapter 97"
    assert got["mode"] == "smoke" and got["torch"] and got["elapsed_seconds"] > 0
    assert got["cache"].startswith("empty at the start")
    assert sorted(p.name for p in out.iterdir()) == ["ch97_smoke.json"]  # nothing for 98, 99
    err = capsys.readouterr().err
    assert "chapter 98 ran but recorded nothing" in err and "boom" in err
    assert "failed: chapter 98, 99" in err
    assert (tmp_path / "nb" / "99_broken.ipynb").exists()  # the failed run is kept to read
    # a reused cache is part of the command that reproduces the run, and counted
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "run.json").write_text("{}")
    assert reproduce.main(["--mode", "smoke", "--chapters", str(chapters), "--out", str(out),
                           "--chapter", "97", "--cache", str(cache)]) == 0
    got = json.loads((out / "ch97_smoke.json").read_text())
    assert got["command"].endswith(f"--chapter 97 --cache {cache}")
    assert got["cache"].startswith("held 1 cached runs")


def test_reproduce_refuses_an_unknown_chapter():
    with pytest.raises(SystemExit, match="no chapter"):
        reproduce.sources([42])
    assert reproduce.sources([1]).keys() == {"01"}


def test_the_package_ships_the_reference_runs(tmp_path):
    """Colab installs the package from the repository, not a checkout: the wheel must hold
    every chapter's reference run."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("gaputils-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for chapter in reproduce.sources():
        assert any(f"gaputils/results/ch{chapter}_{m}.json" in names for m in reference.MODES)


def _result(seeds, **arms):
    arm = lambda acc: {"group": "g", "batch_size": 1, "seeds": list(seeds), "test_acc": acc,
                       "lambda_max": [], "sharpness": []}
    return {"setting": f"s; seeds {seeds}", "seeds": list(seeds), "measure_seeds": [],
            "arms": {n: arm(acc) for n, acc in arms.items()}}


def test_write_result_adds_arms_and_seeds_and_keeps_the_committed_ones(tmp_path):
    path = tmp_path / "ref.json"
    first = _result([0, 1], SB=[0.8, 0.9], LB=[0.7, 0.6])
    reference.write_result(path, first, {"command": "make"})
    added = _result([0, 1], SB=[0.8, 0.9], LB=[0.7, 0.6], X=[0.5, 0.4])  # a new arm
    out = reference.write_result(path, added, {"command": "add"}, arms=["X"])
    assert out["arms"]["SB"]["test_acc"] == [0.8, 0.9]
    assert out["arms"]["X"]["test_acc"] == [0.5, 0.4]
    assert out["command"] == "make"
    assert out["additions"] == [{"arms": ["X"], "seeds": [0, 1], "command": "add"}]
    assert json.loads(path.read_text()) == out
    more = _result([1, 2], SB=[0.9, 0.7], LB=[0.6, 0.65], X=[0.1, 0.3])  # X seed 1 exists
    with pytest.raises(ValueError, match="share seeds of 'X'"):
        reference.write_result(path, more, {}, arms=["X"])
    more = _result([2, 3], SB=[0.7, 0.75], LB=[0.65, 0.6], X=[0.3, 0.2])  # more seeds
    out = reference.write_result(path, more, {"command": "more"}, arms=["X"])
    assert out["seeds"] == [0, 1, 2, 3] and out["arms"]["SB"]["test_acc"] == [0.8, 0.9, 0.7, 0.75]
    assert out["arms"]["X"]["seeds"] == [0, 1, 2, 3] and len(out["additions"]) == 2
    other = _result([3, 4], SB=[0.1, 0.2], LB=[0.6, 0.6], Y=[0.5, 0.5])  # SB seed 3 differs
    with pytest.raises(ValueError, match="SB seed 3 is another network"):
        reference.write_result(path, other, {}, arms=["Y"])


def test_relative_paths_are_the_callers_not_the_kernels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the chapters' kernels run in chapters/, not here
    args = reproduce.parse(["--cache", "cache", "--out", "out", "--executed", "x"])
    assert (args.cache, args.out, args.executed) == (tmp_path / "cache", tmp_path / "out",
                                                     tmp_path / "x")
