"""The acquisition month of encoders that take it: given date, a date in the name or metadata, else July."""

from datetime import date

from qgis_csp_plugin.core.acquisition_date import DEFAULT_MONTH, acquisition_month, date_in_text


def test_dates_in_product_names():
    assert date_in_text("LC08_L1TP_224078_20200518_20200527_02_T1") == date(2020, 5, 18)
    assert date_in_text("m_4709963_se_14_1_20200831.tif") == date(2020, 8, 31)
    assert date_in_text("S2A_MSIL2A_2023-07-04.tif") == date(2023, 7, 4)
    assert date_in_text("patch_20201399.tif") is None and date_in_text("2020.tif") is None  # no valid full date


def test_month_comes_from_the_user_the_name_or_mid_year():
    assert acquisition_month(date(2019, 3, 2), [("the file name", "x_20200518")])[0] == 3
    month, how = acquisition_month(None, [("the file name", "2020.tif"), ("the metadata item DATE", "2021-11-30")])
    assert month == 11 and "from the date 2021-11-30 in the metadata item DATE" in how
    month, how = acquisition_month(None, [("the file name", "scene.tif")])
    assert month == DEFAULT_MONTH == 7 and "July, mid-year" in how and "set the acquisition date" in how
