"""CLI command ``demo``: the study on the embedded default, in one process, ending in the report.

``neuronlab demo --out DIR`` extracts minilm on the embedded concept corpus into ``DIR/minilm.h5``, then runs
the documented commands on it, in process and in order: ``probe`` (upos and Number, with the layer-wise,
ablation and minimal-subset evaluations that the report plots), ``rank`` (two methods per concept, so the
report can compare rankers), ``redundancy`` and ``describe`` (compositional explanations of the top neurons),
and ``report``. Each step is an ordinary command line (printed with ``--json``, and listed by ``--dry-run``),
so every step can be replayed or changed by hand. The study uses the first 1,000 of the corpus's 5,000
sentences (about 10,000 words), which keeps it to a few minutes on a 2-core CPU. ``--quick`` runs a reduced
study (200 sentences, two sites, one probe without the random-init baseline, one ranker) for tests and a first
look.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import NeuronlabError
from .registry import COMMANDS, OVERWRITE_FLAG, command, emit

__all__ = ["Step", "demo_steps", "PLANS"]

#: the store's file name inside ``--out``, and the report directory's
STORE_NAME = "minilm.h5"
REPORT_NAME = "report"


@dataclass(frozen=True)
class Step:
    """One step of the demo: a ``neuronlab`` command line (``argv`` without the program name).

    ``argv`` may hold ``{store}``, ``{report}`` and ``{top_upos}`` (the probe's three best upos neurons, known
    once the probe ran); they are filled in when the step runs.
    """

    title: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """A demo setting: how many sentences, which sites, and the steps after the extraction."""

    sentences: int              # the first sentences of the embedded corpus (5,000 in all)
    sites: str
    steps: tuple[Step, ...]


PLANS: dict[str, Plan] = {
    "full": Plan(1000, "embeddings,layers.*", (
        Step("probe upos", ("probe", "{store}", "--concept", "upos", "--evaluate", "layerwise,ablation")),
        Step("probe Number", ("probe", "{store}", "--concept", "Number", "--evaluate", "layerwise,ablation,minimal")),
        Step("rank upos (probeless)", ("rank", "{store}", "--concept", "upos", "--method", "probeless")),
        Step("rank upos (iou)", ("rank", "{store}", "--concept", "upos", "--method", "iou")),
        Step("rank Number (probeless)", ("rank", "{store}", "--concept", "Number", "--method", "probeless")),
        Step("rank Number (ap)", ("rank", "{store}", "--concept", "Number", "--method", "ap")),
        Step("redundancy", ("redundancy", "{store}", "--threshold", "0.3", "0.5", "0.7")),
        Step("describe top upos neurons", ("describe", "{store}", "--neurons", "{top_upos}", "--method",
                                           "compositional")),
        Step("report", ("report", "{store}", "--out", "{report}")),
    )),
    "quick": Plan(200, "layers.2,layers.5", (
        Step("probe Number", ("probe", "{store}", "--concept", "Number", "--no-random-init", "--evaluate",
                              "layerwise")),
        Step("rank Number (probeless)", ("rank", "{store}", "--concept", "Number", "--method", "probeless")),
        Step("report", ("report", "{store}", "--out", "{report}")),
    )),
}


def demo_steps(plan: Plan, out: Path, *, overwrite: bool = False) -> list[tuple[str, list[str]]]:
    """``(title, argv)`` of every step of ``plan`` after the extraction, with the paths under ``out`` filled in
    (``{top_upos}`` stays until the probe ran)."""
    fill = {"store": str(out / STORE_NAME), "report": str(out / REPORT_NAME)}
    steps = []
    for step in plan.steps:
        argv = [a.format(**fill, top_upos="{top_upos}") for a in step.argv]
        if argv[0] == "report" and overwrite:
            argv.append(OVERWRITE_FLAG)
        steps.append((step.title, argv))
    return steps


def _top_neurons(store_path: Path, concept: str, k: int = 3) -> str:
    from ..concepts.results import ProbeResult
    from ..store import ActivationStore

    with ActivationStore.open(store_path) as store:
        return ",".join(ProbeResult.from_store(store, f"probe_{concept}").ranking[:k])


def _run_command(argv: list[str]) -> str:
    """Run ``neuronlab ARGV`` in this process (errors propagate); its printed output."""
    configure, _ = COMMANDS[argv[0]]
    parser = argparse.ArgumentParser(prog=f"neuronlab {argv[0]}")
    run = configure(parser)
    quiet = ["--quiet"] if "--quiet" in parser._option_string_actions else []   # one progress display: the demo's
    args = parser.parse_args(argv[1:] + quiet)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        run(args)
    return buffer.getvalue()


def _extract(out: Path, plan: Plan, *, overwrite: bool) -> str:
    from ..corpus import load_embedded_corpus
    from ..extraction import ExtractionConfig, Extractor
    from ..outputs import safe_output

    corpus = load_embedded_corpus()
    corpus = corpus.subset(range(min(plan.sentences, len(corpus))))
    with safe_output(out / STORE_NAME, overwrite=overwrite, overwrite_hint=OVERWRITE_FLAG) as tmp:
        store = Extractor("minilm", ExtractionConfig(sites=plan.sites), progress=False).extract(corpus, tmp)
        text = f"{len(corpus)} sentences, {corpus.n_words} words; {store}"
        store.close()
    return text


def _check_outputs(out: Path, *, overwrite: bool) -> None:
    """Before any work: the store can be written and the report directory is free (or ``--overwrite``)."""
    from ..outputs import OutputError, check_output

    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {str(out)!r} is a file; give a directory (it will hold {STORE_NAME} and "
                          f"{REPORT_NAME}/)")
    check_output(out / STORE_NAME, overwrite=overwrite, overwrite_hint=OVERWRITE_FLAG)
    report = out / REPORT_NAME
    if report.exists() and not overwrite:
        raise OutputError(f"{str(report)!r} already exists; pass {OVERWRITE_FLAG} to replace it (only a report "
                          "directory that neuronlab wrote is replaced)")


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, unit="step", bar_format="{l_bar}{bar}| {n}/{total} [{elapsed}]")


@command("demo", "Run the study on the embedded default (minilm on the concept corpus): extract, probe upos and "
                 "Number with baselines and evaluations, rank with several methods, redundancy, compositional "
                 "explanations, and the HTML report, whose path it prints. A few minutes on a 2-core CPU; "
                 "--quick for a reduced run.")
def _demo(p: argparse.ArgumentParser):
    p.add_argument("--out", default="runs/demo", metavar="DIR",
                   help=f"directory for the store ({STORE_NAME}) and the report ({REPORT_NAME}/index.html)")
    p.add_argument("--overwrite", action="store_true",
                   help=f"replace DIR/{STORE_NAME} and DIR/{REPORT_NAME} if they exist (the report only if neuronlab "
                        "wrote it)")
    p.add_argument("--quick", action="store_true",
                   help=f"a reduced study: the first {PLANS['quick'].sentences} sentences, sites "
                        f"{PLANS['quick'].sites}, one probe without the random-init baseline and one ranker (seconds "
                        "instead of minutes)")
    p.add_argument("--dry-run", action="store_true", help="print the steps as command lines and exit")
    p.add_argument("--json", action="store_true", help="print the steps, their times and the report's path as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress display")

    def run(args) -> int:
        plan = PLANS["quick" if args.quick else "full"]
        out = Path(args.out)
        steps = demo_steps(plan, out, overwrite=args.overwrite)
        extract_line = (f"(extract) minilm on the first {plan.sentences} sentences of the embedded corpus, sites "
                        f"{plan.sites} -> {out / STORE_NAME}")
        if args.dry_run:
            lines = [extract_line] + ["neuronlab " + shlex.join(argv) for _, argv in steps]
            emit(args, {"steps": lines}, "\n".join(lines))
            return 0
        _check_outputs(out, overwrite=args.overwrite)
        out.mkdir(parents=True, exist_ok=True)
        done: list[dict] = []
        show = not args.quiet and not args.json
        actions: list[tuple[str, Callable[[], str], str]] = [
            ("extract minilm", lambda: _extract(out, plan, overwrite=args.overwrite), extract_line)]
        for title, argv in steps:
            actions.append((title, (lambda a=argv: _run_command(_resolve(a, out))), "neuronlab " + shlex.join(argv)))
        t_all = time.perf_counter()
        with _progress(len(actions), show) as bar:
            for i, (title, action, line) in enumerate(actions, 1):
                bar.set_description(title)
                t0 = time.perf_counter()
                try:
                    text = action()
                except NeuronlabError as exc:   # one line that says which step, and how to replay it
                    raise NeuronlabError(f"demo step {i}/{len(actions)} ({title}) failed: {exc}; to repeat it "
                                         f"alone: {line}") from exc
                seconds = time.perf_counter() - t0
                done.append({"step": title, "command": line, "seconds": round(seconds, 2), "output": text})
                if show:
                    bar.write(f"[{i}/{len(actions)}] {title:<28} {seconds:6.1f} s")
                bar.update(1)
        index = out / REPORT_NAME / "index.html"
        payload = {"store": str(out / STORE_NAME), "report": str(index), "steps": done,
                   "seconds": round(time.perf_counter() - t_all, 2)}
        emit(args, payload, f"demo finished in {payload['seconds']:.0f} s; open the report:\n{index}")
        return 0

    return run


def _resolve(argv: list[str], out: Path) -> list[str]:
    """Fill in ``{top_upos}`` (read from the probe result in the store) where a step needs it."""
    if any("{top_upos}" in a for a in argv):
        top = _top_neurons(out / STORE_NAME, "upos")
        argv = [a.replace("{top_upos}", top) for a in argv]
    return argv
