"""The council's need taxonomy. Extensible: more rows can be added in the admin."""

from django.db import migrations

CATEGORIES = [
    ("isolation", "社会的孤立"),
    ("hikikomori", "ひきこもり"),
    ("8050", "8050"),
    ("hoarding", "ごみ屋敷"),
    ("debt", "多重債務・滞納"),
    ("dementia-alone", "認知症の独居"),
    ("elderly-carers", "老老介護"),
    ("young-carer", "ヤングケアラー"),
    ("abuse-suspected", "虐待の疑い"),
    ("housing-loss", "住まいの喪失"),
    ("mental-health", "精神的な不調"),
    ("other", "その他"),
]


def forward(apps, schema_editor):
    NeedCategory = apps.get_model("casework", "NeedCategory")
    for order, (code, name) in enumerate(CATEGORIES):
        NeedCategory.objects.update_or_create(code=code, defaults={"name": name, "order": order})


class Migration(migrations.Migration):
    dependencies = [("casework", "0002_initial")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
