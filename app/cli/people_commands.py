"""`feddeck user|group|project ...`: who may do what, and how they are grouped."""

from __future__ import annotations

import argparse

from app.cli.context import CliContext
from app.errors import InvalidInput
from app.storage.vocabulary import DEFAULT_KEEP_CLIENT_ROUNDS, Role

USER_COLUMNS = ("name", "role", "created_at")


def user_add(ctx: CliContext, args: argparse.Namespace):
    users = ctx.services.users
    if not users.has_users():
        if args.role != Role.ADMIN.value:
            raise InvalidInput("the first user must be an admin: pass --role admin")
        return users.create_first_admin(args.name, ctx.new_password(fallback_to_password=True))
    actor = ctx.actor()
    return users.add(actor, args.name, ctx.new_password(), args.role)


def user_list(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.users.list(ctx.actor())


def user_passwd(ctx: CliContext, args: argparse.Namespace):
    actor = ctx.actor()
    name = args.name or actor.name
    ctx.services.users.set_password(actor, name, ctx.new_password())
    return {"user": name, "password": "changed"}


def group_add(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.groups.add(ctx.actor(), args.name, args.description)


def group_list(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.groups.list(ctx.actor())


def group_add_member(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.groups.add_member(ctx.actor(), args.group, args.member)


def project_create(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.projects.create(
        ctx.actor(), args.name, args.group, args.description, args.keep_client_rounds
    )


def project_retention(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.projects.set_retention(ctx.actor(), args.name, args.keep)


def project_export(ctx: CliContext, args: argparse.Namespace):
    if args.mlflow is None and args.tensorboard is None:
        return ctx.services.projects.get(ctx.actor(), args.name)
    logs = args.tensorboard
    if logs:  # a relative folder as the shell means it
        from pathlib import Path

        logs = str(Path(logs).absolute())
    return ctx.services.projects.set_exports(ctx.actor(), args.name, args.mlflow, logs)


def project_list(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.projects.list(ctx.actor())


def project_attach_group(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.projects.attach_group(ctx.actor(), args.project, args.group)


def group_rename(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.groups.rename(ctx.actor(), args.name, args.new_name)


def project_rename(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.projects.rename(ctx.actor(), args.name, args.new_name)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    roles = [r.value for r in Role]

    user = sub.add_parser("user", help="users and passwords").add_subparsers(required=True)
    p = user.add_parser("add", parents=[common], help="add a user (the first one: an admin)")
    p.add_argument("name")
    p.add_argument("--role", choices=roles, default=Role.OPERATOR.value)
    p.set_defaults(handler=user_add)
    p = user.add_parser("list", parents=[common], help="list users (admin)")
    p.set_defaults(handler=user_list, columns=USER_COLUMNS)
    p = user.add_parser("passwd", parents=[common], help="change a password")
    p.add_argument("name", nargs="?", help="whose password (default: yours)")
    p.set_defaults(handler=user_passwd)

    group = sub.add_parser("group", help="groups of users").add_subparsers(required=True)
    p = group.add_parser("add", parents=[common], help="create a group (admin)")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.set_defaults(handler=group_add)
    p = group.add_parser("list", parents=[common], help="list groups and members")
    p.set_defaults(handler=group_list, columns=("name", "members", "description"))
    p = group.add_parser("add-member", parents=[common], help="put a user in a group (admin)")
    p.add_argument("group")
    p.add_argument("member", metavar="USER")  # not "user": --user names the acting user
    p.set_defaults(handler=group_add_member)
    p = group.add_parser("rename", parents=[common], help="rename a group (admin)")
    p.add_argument("name")
    p.add_argument("new_name")
    p.set_defaults(handler=group_rename)

    project = sub.add_parser("project", help="projects (one group each)").add_subparsers(
        required=True
    )
    p = project.add_parser("create", parents=[common], help="create a project")
    p.add_argument("name")
    p.add_argument("--group", help="attach this group now")
    p.add_argument("--description", default="")
    p.add_argument(
        "--keep-client-rounds",
        default=str(DEFAULT_KEEP_CLIENT_ROUNDS),
        metavar="N|all|none",
        help=f"client updates kept on disk per run (default: the last {DEFAULT_KEEP_CLIENT_ROUNDS}"
        " rounds'; aggregated models are always kept)",
    )
    p.set_defaults(handler=project_create)
    p = project.add_parser("list", parents=[common], help="list projects")
    p.set_defaults(
        handler=project_list, columns=("name", "group", "client_updates_kept", "description")
    )
    p = project.add_parser(
        "retention", parents=[common], help="how many rounds of client updates runs keep"
    )
    p.add_argument("name")
    p.add_argument("keep", metavar="N|all|none")
    p.set_defaults(handler=project_retention)
    p = project.add_parser(
        "export",
        parents=[common],
        help="export each run that ends to MLflow and/or TensorBoard ('' turns one off)",
    )
    p.add_argument("name")
    p.add_argument("--mlflow", metavar="URI", help="tracking URI, or '' for none")
    p.add_argument("--tensorboard", metavar="DIR", help="log folder, or '' for none")
    p.set_defaults(handler=project_export)
    p = project.add_parser("attach-group", parents=[common], help="give a project its group")
    p.add_argument("project")
    p.add_argument("group")
    p.set_defaults(handler=project_attach_group)
    p = project.add_parser("rename", parents=[common], help="rename (not while runs go)")
    p.add_argument("name")
    p.add_argument("new_name")
    p.set_defaults(handler=project_rename)
