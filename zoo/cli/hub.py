"""``genozoo push``, ``genozoo pull`` and ``genozoo card``: publish a model folder, fetch one, re-render its card.

The work lives in :mod:`zoo.hub` and :mod:`zoo.cards`; this module only parses and dispatches.
"""
from __future__ import annotations

import argparse

from zoo.cli.options import name_part


def cmd_push(args: argparse.Namespace) -> int:
    from zoo.errors import UserError
    from zoo.hub import push, push_all

    if args.all:
        if args.model_dir or args.repo:
            raise UserError("--all pushes every published model to ORG/<arch>.<tag>; give --org, not a folder or "
                            "--repo")

        def report(r) -> None:
            print(f"{r.name}: pushed to {r.repo_id} ({r.commit})" if r.commit else
                  f"{r.name}: {r.repo_id} is up to date (no commit)", flush=True)

        results = push_all(args.org, private=args.private, revision=args.revision, progress=report)
        pushed = sum(r.commit is not None for r in results)
        print(f"{pushed} of {len(results)} model(s) pushed, {len(results) - pushed} already up to date")
        return 0
    if not args.model_dir or not args.repo:
        raise UserError("give a model folder and --repo ORG/NAME, or --all [--org ORG] for every published model")
    url = push(args.model_dir, args.repo, private=args.private, revision=args.revision,
               commit_message=args.message)
    print(f"pushed {args.model_dir} to {args.repo}" + (f" (branch {args.revision})" if args.revision else ""))
    print(url)
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from zoo.hub import pull

    folder = pull(args.repo, revision=args.revision, local_dir=args.to)
    print(folder)
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from zoo.hub import rerender_card

    path = rerender_card(args.model_dir, name=args.name)
    if args.print:
        print(path.read_text(encoding="utf-8"), end="")
    else:
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "push", help="upload a model folder to a Hugging Face Hub model repo",
        description="Upload a saved model folder (model.safetensors, config.json, README.md and small JSON side "
                    "files) to a Hub model repo in one commit, or with --all every published model (one commit "
                    "each). The folder is checked first: the model must build from config.json, its weights must "
                    "load strictly and its card must parse. Uses HF_TOKEN (or `hf auth login`) and HF_ENDPOINT.")
    p.add_argument("model_dir", metavar="MODEL_DIR", nargs="?", help="folder written by zoo.hub.save_model")
    p.add_argument("--repo", metavar="ORG/NAME",
                   help="Hub model repo to push to; created if it does not exist (published weights use "
                        "genozoo/<arch>.<tag>)")
    p.add_argument("--all", action="store_true",
                   help="push every published model of the bundled hub to ORG/<arch>.<tag>, one commit each; a repo "
                        "that already holds the same files gets no commit")
    p.add_argument("--org", metavar="ORG", help="organization for --all (default: $GENOZOO_HUB_ORG or genozoo)")
    p.add_argument("--private", action="store_true", help="create the repo as private (ignored if it exists)")
    p.add_argument("--revision", metavar="BRANCH",
                   help="push to this branch instead of main (created from main if missing)")
    p.add_argument("--message", "-m", metavar="TEXT", help="commit message (default: 'Upload MODEL_DIR with genozoo')")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser(
        "pull", help="fetch a model repo from the Hub into the local cache",
        description="Download a genozoo model repo (config.json, model.safetensors, README.md, JSON side files) "
                    "into the Hugging Face cache, verify the weights against the sha256 the Hub reports and check "
                    "the model builds. Prints the folder. Works offline (HF_HUB_OFFLINE=1) once cached.")
    p.add_argument("repo", metavar="ORG/NAME", help="Hub model repo, e.g. genozoo/deepram_recurrent_onehot.splice")
    p.add_argument("--revision", metavar="REV", help="branch, tag or commit to fetch (default: main)")
    p.add_argument("--to", metavar="DIR", help="also copy the files into this folder")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser(
        "card", help="re-render the model card (README.md) of a model folder",
        description="Re-render README.md of a model folder from its config.json and the published record it "
                    "names (zoo/pretrained.json), with the template cards/model_card.md. Cards are generated, "
                    "never edited by hand.")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="folder written by zoo.hub.save_model")
    p.add_argument("--name", metavar="ARCH.TAG", type=name_part,
                   help="published record to render from (default: the 'name' in config.json)")
    p.add_argument("--print", action="store_true", help="also print the card to standard output")
    p.set_defaults(func=cmd_card)
