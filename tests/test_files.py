"""dae.files: result files are written whole or not at all."""

import csv
import json
import os

import pytest

from dae.files import write_atomic, write_csv, write_json, write_text


def test_files_are_replaced_whole_with_ordinary_permissions(tmp_path):
    path = write_json(tmp_path / "sub" / "metrics.json", {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    write_text(path, "second")
    assert path.read_text() == "second" and [p.name for p in path.parent.iterdir()] == ["metrics.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text(tmp_path / "report.md", "old")

    with pytest.raises(TypeError):
        write_atomic(path, object())  # not bytes: fails inside the write
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_csv_rows_in_column_order_with_empty_cells(tmp_path):
    path = write_csv(tmp_path / "rows.csv", [{"b": 2, "a": 1}, {"a": 3}], ["a", "b"])
    assert list(csv.reader(path.open())) == [["a", "b"], ["1", "2"], ["3", ""]]


def test_a_folder_under_a_file_is_named_before_any_work(tmp_path):
    import pytest

    from dae.errors import ConfigError
    from dae.files import check_folder

    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match=rf"paths.cache_dir={tmp_path / 'afile' / 'cache'}: {tmp_path / 'afile'} is a file, not a folder"):
        check_folder(tmp_path / "afile" / "cache", "paths.cache_dir")
    assert check_folder(tmp_path / "new" / "cache", "paths.cache_dir") == tmp_path / "new" / "cache"  # made later, as needed
