from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("stats", "0010_failed_job_events_index")]

    operations = [
        migrations.AlterModelOptions(
            name="viewrefresh",
            options={"ordering": ("view_name",), "verbose_name_plural": "view refreshes"},
        ),
    ]
