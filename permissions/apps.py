from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PermissionsConfig(AppConfig):
    name = "permissions"
    verbose_name = _("Agencies and access")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from permissions import rls  # registers the log-in and log-out receivers

        connection_created.connect(rls.set_role_on_connect, dispatch_uid="otagai_set_role")
        post_migrate.connect(rls.grant_after_migrate, dispatch_uid="otagai_grant_app_role")
