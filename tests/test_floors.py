"""zoo.export.floors: which cards meet their floors and which export each use recommends."""

from zoo.export import floors

MANIFEST = {
    "floors": {"a": {"fid": {"max": 30.0}}, "b": {"fid": {"max": 30.0}, "label_accuracy": {"min": 0.9}},
               "c": {"fid": {"max": 50.0}}, "t": {"psnr": {"min": 20.0}}},
    "uses": {"images": {"metric": "fid", "exports": ["a", "b", "c", "missing"]},
             "translation": {"metric": "psnr", "exports": ["t"]}},
}


def test_shortfalls_name_each_bound_missed():
    assert floors.shortfalls("a", {"fid": 29.9}, MANIFEST) == []
    assert floors.shortfalls("a", {"fid": 30.0}, MANIFEST) == []  # A bound is inclusive.
    assert floors.shortfalls("a", {"fid": 30.1}, MANIFEST) == [("fid", 30.1, "<= 30")]
    assert floors.shortfalls("b", {"fid": 10.0, "label_accuracy": 0.89}, MANIFEST) == [("label_accuracy", 0.89, ">= 0.9")]
    assert floors.shortfalls("b", {"fid": 10.0}, MANIFEST) == [("label_accuracy", None, ">= 0.9")]  # Not measured.
    assert floors.shortfalls("t", {"psnr": 19.5}, MANIFEST) == [("psnr", 19.5, ">= 20")]
    assert floors.shortfalls("unknown", {"fid": 999.0}, MANIFEST) == []
    assert floors.describe_floor("b", MANIFEST) == "fid <= 30, label_accuracy >= 0.9"


def test_recommended_is_the_best_value_among_exports_meeting_their_floor():
    # b has the lowest FID but misses its label floor; c meets its own looser floor with 40 > a's 25.
    chosen = floors.recommended(MANIFEST, {"a": {"fid": 25.0}, "b": {"fid": 5.0, "label_accuracy": 0.5},
                                           "c": {"fid": 40.0}, "t": {"psnr": 21.0}})
    assert chosen == {"images": ("a", 25.0), "translation": ("t", 21.0)}
    chosen = floors.recommended(MANIFEST, {"a": {"fid": 31.0}, "c": {"fid": 45.0}, "t": {"psnr": 19.0}})
    assert chosen == {"images": ("c", 45.0), "translation": None}  # Higher PSNR is better, and 19 misses 20.
    assert floors.better("psnr", 21.0, 20.0) and floors.better("fid", 20.0, 21.0)
