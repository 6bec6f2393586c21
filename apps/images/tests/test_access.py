"""check_access: the one permission function, by role and for non-members."""

import uuid

import pytest

from apps.images import api
from apps.images.contracts import AccessDenied, Action, ImageNotFound, ProjectNotFound, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(make_user):
    owner = make_user()
    info = api.create_project(actor_id=owner.id, name="P")
    return owner, info


def test_owner_may_do_everything(project):
    owner, p = project
    for action in Action:
        access = api.check_access(user_id=owner.id, project_id=p.id, action=action)
        assert access.role is Role.OWNER and access.project_id == p.id


def test_non_member_and_missing_project_are_not_found(project, make_user):
    _, p = project
    stranger = make_user()
    for action in Action:
        with pytest.raises(ProjectNotFound):
            api.check_access(user_id=stranger.id, project_id=p.id, action=action)
    with pytest.raises(ProjectNotFound):
        api.check_access(user_id=stranger.id, project_id=uuid.uuid4(), action=Action.VIEW)
    with pytest.raises(ProjectNotFound):
        api.check_access(user_id=stranger.id, project_id="not-a-uuid", action=Action.VIEW)
    with pytest.raises(ProjectNotFound):
        api.check_access(user_id=None, project_id=p.id, action=Action.VIEW)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, {Action.VIEW}),
        (Role.EDITOR, {Action.VIEW, Action.EDIT}),
    ],
)
def test_roles_map_to_actions(project, make_user, role, allowed):
    owner, p = project
    member = make_user()
    api.add_member(actor_id=owner.id, project_id=p.id, email=member.email, role=role)
    for action in Action:
        if action in allowed:
            assert api.check_access(user_id=member.id, project_id=p.id, action=action).role is role
        else:
            with pytest.raises(AccessDenied):
                api.check_access(user_id=member.id, project_id=p.id, action=action)


def test_image_access_of_a_non_member_is_not_found(project, make_user):
    _, p = project
    with pytest.raises(ImageNotFound):
        api.check_image_access(user_id=make_user().id, image_id=uuid.uuid4(), action=Action.VIEW)
    with pytest.raises(ImageNotFound):
        api.check_image_access(user_id=make_user().id, image_id="zzz", action=Action.VIEW)


def test_list_projects_for_user_counts_and_roles(project, make_user):
    owner, p = project
    member = make_user()
    api.add_member(actor_id=owner.id, project_id=p.id, email=member.email, role=Role.EDITOR)
    mine = api.list_projects_for_user(user_id=member.id)
    assert [(s.project.id, s.role, s.image_count, s.member_count) for s in mine] == [(p.id, Role.EDITOR, 0, 2)]
    assert api.member_project_ids(user_id=member.id) == [p.id]
    assert set(api.project_member_ids(project_id=p.id)) == {owner.id, member.id}
