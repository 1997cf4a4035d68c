from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("stats", "0006_board_positions")]

    operations = [
        migrations.AlterModelOptions(
            name="viewrefresh",
            options={"ordering": ("view_name",), "verbose_name_plural": "view refreshes"},
        ),
    ]
