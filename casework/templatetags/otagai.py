from django import template

from permissions.people import display_name

register = template.Library()


@register.filter
def person(user) -> str:  # type: ignore[no-untyped-def]
    """{{ user|person }} → family name first, as Japanese readers expect."""
    return display_name(user)
