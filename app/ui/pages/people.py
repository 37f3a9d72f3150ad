"""Users & groups (admin) and projects (one group each)."""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog

from app.services.entities.projects import DEFAULT_KEEP_CLIENT_ROUNDS
from app.ui.dialogs.simple import FormDialog, combo, line
from app.ui.pages.table_page import TablePage
from app.ui.workers import run_in_background


def retention_choice(current: str):
    """Rounds of client updates a run keeps: all, none, or a number (typed or picked)."""
    box = combo(["all", "none", "1", "5", "10", "50", "100"])
    box.setEditable(True)
    box.setCurrentText(current)
    box.setToolTip("Aggregated models are always kept; this bounds the clients' updates.")
    return box


def _exports(project) -> str:
    where = [
        f"MLflow {project.export_mlflow}" if project.export_mlflow else "",
        f"TensorBoard {project.export_tensorboard}" if project.export_tensorboard else "",
    ]
    return "; ".join(w for w in where if w) or "nowhere"


class UsersPage(TablePage):
    title = "Users & groups"
    columns = [
        ("Kind", lambda r: r[0]),
        ("Name", lambda r: r[1].name),
        ("Role / members", lambda r: r[1].role if r[0] == "user" else r[1].members),
        ("Created / description", lambda r: getattr(r[1], "created_at", None) or r[1].description),
    ]

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.add_action("Add user…", self.add_user, "Ctrl+N", needs="admin")
        self.add_action("Add group…", self.add_group, "Ctrl+G", needs="admin")
        self.add_action("Add member…", self.add_member, "Ctrl+M", needs="admin")
        self.add_action("Change role…", self.change_role, needs="admin")
        self.add_action("Rename group…", self.rename_group, "F2", needs="admin")
        self.add_action("Remove", self.remove, "Del", needs="admin")

    def query(self):
        services, actor, admin = self.ctx.services, self.ctx.actor, self.ctx.can("admin")

        def load():
            if not admin:
                raise PermissionError(
                    "Users & groups are for admins; you can see your own account only."
                )
            users = services.users.list(actor)
            groups = services.groups.list(actor)
            return [("user", u) for u in users] + [("group", g) for g in groups]

        return load

    @staticmethod
    def _key(record):
        return (record[0], record[1].name)

    def rename_group(self) -> None:
        row = self.one_selected("group")
        if row is None:
            return
        kind, group = row
        if kind != "group":
            self.status.setText("Select a group to rename (user names are logins and stay).")
            return
        services, actor = self.ctx.services, self.ctx.actor
        self.open_rename(
            "group", group.name, lambda new: services.groups.rename(actor, group.name, new)
        )

    def add_user(self) -> None:
        services, actor = self.ctx.services, self.ctx.actor
        dialog = FormDialog(
            "Add user",
            {
                "name": line("login name"),
                "password": line(password=True),
                "role": combo(["operator", "viewer", "admin"]),
            },
            lambda v: services.users.add(actor, v["name"], v["password"], v["role"]),
            self,
        )
        dialog.done.connect(lambda _r: self.refresh())
        dialog.open()

    def add_group(self) -> None:
        services, actor = self.ctx.services, self.ctx.actor
        dialog = FormDialog(
            "Add group",
            {"name": line(), "description": line()},
            lambda v: services.groups.add(actor, v["name"], v["description"]),
            self,
        )
        dialog.done.connect(lambda _r: self.refresh())
        dialog.open()

    def add_member(self) -> None:
        groups = [r[1].name for r in self.model.rows if r[0] == "group"]
        users = [r[1].name for r in self.model.rows if r[0] == "user"]
        services, actor = self.ctx.services, self.ctx.actor
        dialog = FormDialog(
            "Add a member",
            {"group": combo(groups), "user": combo(users)},
            lambda v: services.groups.add_member(actor, v["group"], v["user"]),
            self,
        )
        dialog.done.connect(lambda _r: self.refresh())
        dialog.open()

    def change_role(self) -> None:
        users = [r[1] for r in self.selected() if r[0] == "user"]
        if not users:
            self.status.setText("Select a user first.")
            return
        services, actor = self.ctx.services, self.ctx.actor
        dialog = FormDialog(
            f"Role of {users[0].name}",
            {"role": combo(["admin", "operator", "viewer"], users[0].role)},
            lambda v: services.users.set_role(actor, users[0].name, v["role"]),
            self,
        )
        dialog.done.connect(lambda _r: self.refresh())
        dialog.open()

    def remove(self) -> None:
        services, actor = self.ctx.services, self.ctx.actor

        def remove(row) -> None:
            kind, record = row
            if kind == "user":
                services.users.remove(actor, record.name)
            else:
                services.groups.remove(actor, record.name)

        self.remove_selected("users or groups", remove)


class ProjectsPage(TablePage):
    title = "Projects"
    columns = [
        ("Name", lambda p: p.name),
        ("Group", lambda p: p.group),
        ("Client updates kept", lambda p: p.client_updates_kept),
        ("Exports runs to", lambda p: _exports(p)),
        ("Description", lambda p: p.description),
    ]

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.add_action("New project…", self.create, "Ctrl+N", needs="operator")
        self.add_action("Attach group…", self.attach, needs="operator")
        self.add_action("Retention…", self.retention, "Ctrl+K", needs="operator")
        self.add_action("Exports…", self.exports, "Ctrl+Shift+E", needs="operator")
        self.add_action("Rename…", self.rename, "F2", needs="operator")
        self.add_action("Remove", self.remove, "Del", needs="operator")

    def remove(self) -> None:
        services, actor = self.ctx.services, self.ctx.actor
        self.remove_selected("projects", lambda p: services.projects.remove(actor, p.name))

    def query(self):
        services, actor = self.ctx.services, self.ctx.actor
        return lambda: services.projects.list(actor)

    def rename(self) -> None:
        project = self.one_selected("project")
        if project is not None:
            services, actor = self.ctx.services, self.ctx.actor
            self.open_rename(
                "project",
                project.name,
                lambda new: services.projects.rename(actor, project.name, new),
            )

    def create(self) -> None:
        run_in_background(
            self, self.ctx.services.groups.list, self.ctx.actor, on_result=self._create_with
        )

    def _create_with(self, groups) -> None:
        services, actor = self.ctx.services, self.ctx.actor
        dialog = FormDialog(
            "New project",
            {
                "name": line(),
                "group": combo(["(none)", *[g.name for g in groups]]),
                "description": line(),
                "keep client updates": retention_choice(str(DEFAULT_KEEP_CLIENT_ROUNDS)),
            },
            lambda v: services.projects.create(
                actor,
                v["name"],
                None if v["group"] == "(none)" else v["group"],
                v["description"],
                v["keep client updates"],
            ),
            self,
        )
        dialog.done.connect(lambda _r: self.refresh())
        dialog.open()

    def retention(self) -> None:
        project = self.one_selected("project")
        if project is None:
            return
        services, actor = self.ctx.services, self.ctx.actor
        keep = project.keep_client_rounds
        current = "all" if keep is None else "none" if keep == 0 else str(keep)
        self.open_form(
            f"Client updates {project.name} keeps",
            {"keep client updates": retention_choice(current)},
            lambda v: services.projects.set_retention(
                actor, project.name, v["keep client updates"]
            ),
        )

    def exports(self) -> None:
        """Where each run of the project goes as it ends: an MLflow store, TensorBoard logs."""
        project = self.one_selected("project")
        if project is None:
            return
        services, actor = self.ctx.services, self.ctx.actor
        fields = {
            "MLflow tracking URI": line("sqlite:////srv/mlflow.db, http://mlflow:5000, or empty"),
            "TensorBoard folder": line("/srv/tensorboard, or empty"),
        }
        fields["MLflow tracking URI"].setText(project.export_mlflow)
        fields["TensorBoard folder"].setText(project.export_tensorboard)
        self.open_form(
            f"Where runs of {project.name} are exported",
            fields,
            lambda v: services.projects.set_exports(
                actor, project.name, v["MLflow tracking URI"], v["TensorBoard folder"]
            ),
        )

    def attach(self) -> None:
        rows = self.selected()
        if not rows:
            self.status.setText("Select a project first.")
            return
        group, ok = QInputDialog.getText(self, "Attach group", f"Group for {rows[0].name}:")
        if ok and group:
            self.run(self.ctx.services.projects.attach_group, self.ctx.actor, rows[0].name, group)
