"""Refold the stored search text with the variant kanji of family names (casework.models
`NAME_VARIANTS`): a search for 高橋 then finds 髙橋. Only rows holding such a character change;
going back leaves them folded (older code simply does not fold the query)."""

from django.db import migrations
from django.db.models import Q

# A frozen copy of casework.models.NAME_VARIANTS as of this migration.
VARIANTS = {
    "髙": "高", "﨑": "崎", "嵜": "崎", "碕": "崎", "邊": "辺", "邉": "辺", "齋": "斎",
    "齊": "斎", "斉": "斎", "澤": "沢", "濱": "浜", "濵": "浜", "廣": "広", "櫻": "桜",
    "眞": "真", "國": "国", "嶋": "島", "嶌": "島", "德": "徳", "惠": "恵", "瀨": "瀬",
    "槇": "槙", "實": "実", "關": "関", "藏": "蔵", "條": "条", "冨": "富", "舘": "館",
    "萬": "万", "傳": "伝", "壽": "寿", "彌": "弥", "榮": "栄", "靜": "静", "來": "来",
    "淺": "浅", "龍": "竜", "黑": "黒", "圓": "円", "與": "与", "驛": "駅", "戶": "戸",
}  # fmt: skip


def refold(apps, schema_editor):
    Case = apps.get_model("casework", "Case")
    table = str.maketrans(VARIANTS)
    holding = Q()
    for variant in VARIANTS:
        holding |= Q(search_text__contains=variant)
    for case in Case.objects.filter(holding).only("pk", "search_text").iterator():
        Case.objects.filter(pk=case.pk).update(search_text=case.search_text.translate(table))


class Migration(migrations.Migration):
    dependencies = [("casework", "0007_case_search_grams")]

    operations = [migrations.RunPython(refold, migrations.RunPython.noop, elidable=True)]
