from django.db import migrations

from stats.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [("stats", "0014_players")]

    operations = [
        migrations.RunSQL(
            load_sql("migrations/0015_previous_ranks.sql"),
            reverse_sql=load_sql("migrations/0015_previous_ranks.reverse.sql"),
        ),
    ]
