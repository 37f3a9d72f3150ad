import pytest

from app.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound, PermissionDenied


def test_first_admin_then_login(services):
    assert not services.users.has_users()
    rec = services.users.create_first_admin("root", "rootpass123")
    assert rec.role == "admin"
    actor = services.users.login("root", "rootpass123")
    assert actor.name == "root" and actor.role == "admin"


def test_first_admin_only_once(services, admin):
    with pytest.raises(Conflict, match="users exist already"):
        services.users.create_first_admin("other", "otherpass123")


def test_passwords_are_hashed_with_argon2(services, admin, db):
    from sqlalchemy import select

    from app.storage.models import User

    with db.session() as s:
        stored = s.scalar(select(User.password_hash).where(User.name == "root"))
    assert stored.startswith("$argon2") and "rootpass123" not in stored


@pytest.mark.parametrize(
    ("name", "password", "role", "error"),
    [
        ("bad name", "longenough1", "operator", "user name"),
        ("ok", "short", "operator", "at least 8"),
        ("ok", "longenough1", "superuser", "unknown role"),
    ],
)
def test_add_user_bad_input(services, admin, name, password, role, error):
    with pytest.raises(InvalidInput, match=error):
        services.users.add(admin, name, password, role)
    assert [u.name for u in services.users.list(admin)] == ["root"]


def test_duplicate_user_refused(services, admin, operator):
    with pytest.raises(Conflict, match="exists already"):
        services.users.add(admin, "olga", "another123", "viewer")


def test_wrong_password_and_unknown_user(services, admin):
    with pytest.raises(AuthenticationFailed):
        services.users.login("root", "wrongpass")
    with pytest.raises(AuthenticationFailed):
        services.users.login("nobody", "whatever12")


def test_operator_cannot_manage_users(services, operator):
    with pytest.raises(PermissionDenied, match="needs the admin role"):
        services.users.add(operator, "x", "xpassword1", "viewer")
    with pytest.raises(PermissionDenied):
        services.users.list(operator)
    with pytest.raises(PermissionDenied):
        services.users.set_password(operator, "root", "hijacked12")


def test_own_password_change(services, operator):
    services.users.set_password(operator, "olga", "newolgapass")
    assert services.users.login("olga", "newolgapass").name == "olga"
    with pytest.raises(AuthenticationFailed):
        services.users.login("olga", "olgapass123")


def test_last_admin_keeps_the_role(services, admin):
    with pytest.raises(InvalidInput, match="last admin"):
        services.users.set_role(admin, "root", "viewer")


def test_groups_and_members(services, admin, operator):
    services.groups.add(admin, "lab")
    rec = services.groups.add_member(admin, "lab", "olga")
    assert rec.members == ["olga"]
    with pytest.raises(Conflict, match="already a member"):
        services.groups.add_member(admin, "lab", "olga")
    with pytest.raises(NotFound, match="no user"):
        services.groups.add_member(admin, "lab", "ghost")
    with pytest.raises(NotFound, match="no group"):
        services.groups.add_member(admin, "nolab", "olga")
    with pytest.raises(PermissionDenied):
        services.groups.add(operator, "mine")
    assert services.groups.remove_member(admin, "lab", "olga").members == []


def test_project_has_exactly_one_group(services, admin, operator):
    services.groups.add(admin, "lab")
    services.groups.add(admin, "other")
    services.projects.create(operator, "digits")
    assert services.projects.attach_group(operator, "digits", "lab").group == "lab"
    with pytest.raises(Conflict, match="exactly one group"):
        services.projects.attach_group(operator, "digits", "other")
    assert services.projects.list(operator)[0].group == "lab"
    with pytest.raises(Conflict, match="attached to project"):
        services.groups.remove(admin, "lab")


def test_project_errors_and_roles(services, admin, viewer):
    services.projects.create(admin, "p1")
    with pytest.raises(Conflict):
        services.projects.create(admin, "p1")
    with pytest.raises(NotFound, match="no group"):
        services.projects.create(admin, "p2", group="missing")
    assert [p.name for p in services.projects.list(admin)] == ["p1"]
    with pytest.raises(PermissionDenied):
        services.projects.create(viewer, "p3")
    assert [p.name for p in services.projects.list(viewer)] == ["p1"]
