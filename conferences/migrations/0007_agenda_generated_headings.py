"""Generated agenda items keep no title: their heading is made in the reader's language.

Until now scheduling stored "<case label>: <kind>" (and "Other business") in the scheduler's
language, so an English reader saw 「…: 役割分担」. Titles that are exactly what scheduling (or
the retention purge, which used the case's reference) wrote become empty; any other title is
the chair's own and stays.
"""

from django.db import migrations, models

# The kinds' names as scheduling wrote them, in Japanese and in English, when this ran.
KIND_NAMES = {
    "situation": ("状況の共有", "Situation"),
    "review": ("未完了の役割分担の確認", "Review of open actions"),
    "discussion": ("協議", "Discussion"),
    "decisions": ("決定事項", "Decisions"),
    "roles": ("役割分担", "Role allocation"),
    "other": ("その他", "Other business"),
}


def forwards(apps, schema_editor):
    AgendaItem = apps.get_model("conferences", "AgendaItem")
    generated = []
    for item in AgendaItem.objects.select_related("case").exclude(title="").iterator():
        names = KIND_NAMES.get(item.kind, ())
        if item.case_id is None:
            expected = set(names) if item.kind == "other" else set()
        else:
            label = item.case.label
            # The purge's title: the case's reference (Case.reference, a property that
            # historical models lack).
            expected = {f"{label}: {name}" for name in names} | {f"C-{item.case_id:05d}"}
        if item.title in expected:
            generated.append(item.pk)
    AgendaItem.objects.filter(pk__in=generated).update(title="")


class Migration(migrations.Migration):
    dependencies = [
        ("conferences", "0006_presence_versions_processes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="agendaitem",
            name="title",
            field=models.CharField(blank=True, max_length=200, verbose_name="title"),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
