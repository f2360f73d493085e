"""Class colours for models without stored colours: land-cover colours for known names, distinct always."""

from qgis_csp_plugin.core.class_palette import PALETTE, default_class_colors, land_cover_color

EUROSAT = ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture", "PermanentCrop",
           "Residential", "River", "SeaLake"]


def test_known_land_covers_get_their_usual_colours():
    colors = dict(zip(EUROSAT, default_class_colors(EUROSAT), strict=True))
    assert colors["SeaLake"] == "#08519c" and colors["River"] == "#41b6c4"  # blues
    assert colors["Forest"] == "#1b7837" and colors["AnnualCrop"] == "#e6c84f"  # dark green, yellow
    assert colors["Industrial"] == "#d62728" and colors["Highway"] == "#7f7f7f"  # red, grey
    assert len(set(colors.values())) == len(EUROSAT)
    assert [land_cover_color(n) for n in ("water", "Tree cover", "Built-up", "cropland")] == [
        "#08519c", "#1b7837", "#e7298a", "#e6c84f"]


def test_words_not_substrings_decide():
    assert land_cover_color("street") == "#7f7f7f"  # not "tree"
    assert land_cover_color("rice") == "#e6c84f"  # not "ice"
    assert land_cover_color("office") is None and land_cover_color("Africa") is None


def test_unknown_and_repeated_covers_take_distinct_palette_colours():
    colors = default_class_colors(["lake", "pond", "Africa", "Asia"])
    assert colors[0] == "#08519c" and len(set(colors)) == 4 and set(colors[1:]) <= set(PALETTE)
    many = default_class_colors([f"class {i}" for i in range(25)])
    assert len(many) == 25 and len(set(many[:20])) == 20
