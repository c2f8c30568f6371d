from django import template

from permissions.people import display_name

register = template.Library()


@register.filter
def person(user) -> str:  # type: ignore[no-untyped-def]
    """{{ user|person }} → family name first, as Japanese readers expect."""
    return display_name(user)


@register.filter
def may_view_reports(user) -> bool:  # type: ignore[no-untyped-def]
    """Whether to show the report link; the view itself checks again."""
    from permissions.policy import can_view_reports

    return can_view_reports(user)
