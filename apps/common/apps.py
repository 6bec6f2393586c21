from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class CommonConfig(AppConfig):
    name = "apps.common"
    label = "common"
    verbose_name = "Shared kernel"

    def ready(self) -> None:
        from config.dramatiq import setup_broker

        setup_broker()
        # Declare every context's actors on the configured broker (never imported by services).
        autodiscover_modules("actors")
