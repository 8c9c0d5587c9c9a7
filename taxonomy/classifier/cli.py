"""``enginebugs classify``: train, evaluate and apply the pre-label classifier."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from enginebugs.taxonomy.classifier import STRATEGIES, TARGETS, train_steps
from enginebugs.taxonomy.classifier.corpus import (SEED_CORPUS, CorpusError, compose_text,
                                                   from_store, load_jsonl, synthetic_count,
                                                   training_examples)
from enginebugs.taxonomy.classifier.default import (DEFAULT_STRATEGY, MODEL_ENV, calibrate_on_heldout,
                                                    load_default_model, seed_model_path)
from enginebugs.taxonomy.cliutil import UserError, db_option, open_store

CLASSIFIER_CODER = "classifier"
MIN_EXAMPLES = 20
#: Stored label dimension of each predicted target (the group is derived, not stored).
STORED = {"symptom": "symptom", "root_cause": "root_cause"}

model_option = click.option("--model", type=click.Path(dir_okay=False),
                            help=f"Model file (default: ${MODEL_ENV}, else the seed model, trained on first use).")


@contextmanager
def _progress(description: str, total: int):
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=True,
                  console=Console(stderr=True)) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)


def _examples(db: str | None, data: str | None):
    """Labelled examples from a store, a JSONL file, or the seed corpus; and a name for them."""
    if db and data:
        raise UserError("give --db or --data, not both")
    try:
        if db:
            with open_store(db, readonly=True) as store:
                examples, name = from_store(store), Path(db).name
        else:
            path = Path(data) if data else SEED_CORPUS
            examples, name = load_jsonl(path), path.name
    except CorpusError as exc:
        raise UserError(str(exc)) from None
    if len(examples) < MIN_EXAMPLES:
        raise UserError(f"{name}: only {len(examples)} labelled example(s) with text; need at least {MIN_EXAMPLES}"
                        + (" (run `enginebugs mine hydrate` to fetch issue text)" if db else ""))
    return examples, name


def _load(model: str | None):
    from enginebugs.taxonomy.classifier.model import ModelError, PreLabelModel

    try:
        if model:
            return PreLabelModel.load(model)
        with _progress("training the default model (seed corpus + generated reports)",
                       train_steps(DEFAULT_STRATEGY)) as step:
            return load_default_model(on_step=step)
    except (ModelError, CorpusError) as exc:
        raise UserError(str(exc)) from None


@click.group()
def classify() -> None:
    """Pre-label classifier: suggests symptom, root-cause group and root cause from issue text.

    Reads the structure of an issue (description apart from environment dumps, logs and
    tracebacks; exception class and last frame), word n-grams and keyword labelling functions,
    with a linear SVM and calibrated probabilities. The default model is trained at first use on
    datasets/seed_reports.jsonl plus reports from datasets/report_generator.py (both written by
    this project) and calibrated on datasets/heldout_reports.jsonl; `classify train --db` retrains
    on a labelled store, `classify calibrate` measures confidence thresholds on real issues.
    Models carry the taxonomy version and refuse to load under another.
    """


@classify.command("train")
@click.option("--db", type=click.Path(dir_okay=False), help="Train on a store's human-labelled records with text.")
@click.option("--data", type=click.Path(dir_okay=False), help="Train on a labelled JSONL file.")
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help="Where to save (default: the seed model's cache path).")
@click.option("--strategy", type=click.Choice(("auto", *STRATEGIES)),
              help="Root-cause leaves flat, or group then leaf; auto keeps what measures better in CV "
                   f"(default: auto with --db/--data, {DEFAULT_STRATEGY} for the seed model).")
def train_cmd(db, data, out, strategy) -> None:
    """Train a model and save it.

    \b
    Examples:
      enginebugs classify train                          # the seed model, into the cache
      enginebugs classify train --db study.db -o study.model
      ENGINEBUGS_MODEL=study.model enginebugs label --coder alice
    """
    from enginebugs.taxonomy.classifier.model import info_line, train

    if (db or data) and not out:
        raise UserError("training on --db or --data needs -o/--out (the cache path is for the seed model)")
    if db or data:
        examples, name = _examples(db, data)
        strategy = strategy or "auto"
    else:
        examples, name = training_examples(), f"{SEED_CORPUS.name} + {synthetic_count()} generated"
        strategy = strategy or DEFAULT_STRATEGY
    with _progress(f"training on {name}", train_steps(strategy)) as step:
        model = train(examples, strategy=strategy, corpus=name, on_step=step)
    if not (db or data):
        calibrate_on_heldout(model)
    path = model.save(out or seed_model_path())
    click.echo(f"saved {path}: {info_line(model)}")
    for candidate, scores in model.info["strategy_selection"].items():
        click.echo(f"  root causes {candidate}: 3-fold CV macro-F1 {scores['macro_f1']:.3f}")


@classify.command("eval")
@model_option
@click.option("--data", type=click.Path(dir_okay=False), help="Evaluate the saved model on this labelled JSONL file.")
@click.option("--db", type=click.Path(dir_okay=False), help="Cross-validate on a store's labelled records.")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20), help="CV folds.")
@click.option("--seed", default=0, show_default=True, help="Seed of the fold split and the random baseline.")
@click.option("--json", "as_json_flag", is_flag=True, help="Print one JSON object keyed by target.")
@click.option("--per-class/--no-per-class", default=True, help="Also print per-class F1 tables.")
def eval_cmd(model, data, db, folds, seed, as_json_flag, per_class) -> None:
    """Measure the classifier beside a majority-class and a stratified-random baseline.

    With --data FILE.jsonl: the saved model predicts each report of the file (fields title,
    text, symptoms, root_causes; display names), baselines use the model's training
    frequencies. Otherwise: stratified k-fold cross-validation on the seed corpus (or --db),
    comparing flat and hierarchical root-cause classifiers.
    """
    from enginebugs.taxonomy.classifier.evaluation import cross_validate, evaluate_predictions
    from enginebugs.taxonomy.classifier.model import info_line
    from enginebugs.taxonomy.classifier.report import as_json, print_reports

    if data and db:
        raise UserError("give --data (external set) or --db (cross-validation), not both")
    if data:
        trained = _load(model)
        examples, name = _examples(None, data)
        found = trained.predict_with_confidence([ex.text for ex in examples])
        reports = {t: evaluate_predictions(t, [ex.target(t) for ex in examples], found[t][0],
                                           trained.class_counts(t), seed, confidences=found[t][1]) for t in TARGETS}
        title = f"model ({info_line(trained)}) on {name}"
    else:
        if model:
            raise UserError("--model only applies with --data; cross-validation trains fresh models")
        examples, name = _examples(db, None)
        with _progress(f"{folds}-fold CV on {name}", folds * (len(TARGETS) + 1)) as step:
            reports = cross_validate(examples, folds=folds, seed=seed, on_fold=step)
        title = f"{folds}-fold stratified CV on {name} ({len(examples)} reports)"
    if as_json_flag:
        click.echo(as_json(reports))
    else:
        print_reports(Console(), reports, title, per_class=per_class)


@classify.command("calibrate")
@model_option
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="Labelled JSONL reports the model never learned from (e.g. real issues you labelled).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Where to save the calibrated model.")
def calibrate_cmd(model, data, out) -> None:
    """Measure the confidence thresholds the labeller uses (--suggest-accuracy) on a labelled set.

    The shipped model is calibrated on datasets/heldout_reports.jsonl (project-written reports);
    calibrating on real issues of your engines gives thresholds that hold on real text.

    
    Example:
      enginebugs classify calibrate --data mine.jsonl -o calibrated.model
      ENGINEBUGS_MODEL=calibrated.model enginebugs label --coder alice --suggest-accuracy 0.8
    """
    from enginebugs.taxonomy.classifier.model import info_line

    trained = _load(model)
    examples, name = _examples(None, data)
    trained.calibrate(examples, name)
    path = trained.save(out)
    click.echo(f"saved {path}: {info_line(trained)}, calibrated on {name} ({len(examples)} reports)")
    for target, table in trained.info["calibration"]["tables"].items():
        for accuracy in (0.7, 0.8, 0.9):
            floor = trained.threshold(target, accuracy)
            kept = next((row["coverage"] for row in table if row["threshold"] == floor), 0.0)
            click.echo(f"  {target.replace('_', ' ')}: accuracy {accuracy:.0%} -> "
                       + (f"threshold {floor:.2f}, {kept:.0%} of reports get a suggestion" if floor is not None
                          else "not reached"))


@classify.command("predict")
@db_option
@model_option
@click.option("--engine", help="Only records of this engine.")
@click.option("--top", default=1, show_default=True, type=click.IntRange(1, 3), help="Labels written per dimension.")
@click.option("--unlabelled-only", is_flag=True, help="Skip records that already carry human labels.")
def predict_cmd(db, model, engine, top, unlabelled_only) -> None:
    """Write the classifier's suggestions into the store (source 'classifier').

    Suggestions for symptom and root cause go next to human labels, never replacing them;
    re-running replaces only the previous classifier labels. Records without text are skipped.
    """
    from enginebugs.taxonomy.classifier.model import info_line

    trained = _load(model)
    with open_store(db) as store:
        human = {r["record_id"] for r in store.labels() if r["source"] in ("manual", "paper", "arbitration")}
        records = [r for r in store.records(engine=engine)
                   if (r.get("title") or r.get("body")) and not (unlabelled_only and r["id"] in human)]
        if not records:
            raise UserError("no records with text to predict (run `enginebugs mine hydrate` first)")
        texts = [compose_text(r.get("title"), r.get("body"), r.get("comments")) for r in records]
        with _progress("predicting", len(records)) as step, store.transaction():
            for rec, found in zip(records, trained.suggest(texts, k=top)):
                for target, dimension in STORED.items():
                    best = found[target][:top]
                    store.set_labels(rec["id"], dimension, [s for s, _ in best], source="classifier",
                                     coder=CLASSIFIER_CODER, confidences=[p for _, p in best])
                step()
    click.echo(f"wrote classifier labels for {len(records)} record(s) ({info_line(trained)})")
