"""FileCache, the one cache of values computed from files: made once, made again when the file changes."""
import os

from vdsr_tf.core.filecache import FileCache, stamp


def _counting():
    calls = []

    def make(value):
        def build():
            calls.append(value)
            return value
        return build
    return calls, make


def test_made_once_per_version_and_extra(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"abc")
    cache, (calls, make) = FileCache(), _counting()
    assert cache.get(f, make(1), "float32") == 1
    assert cache.get(str(f), make(2), "float32") == 1  # same file, same extra: the kept value
    assert cache.get(f, make(3), "bfloat16") == 3      # another extra is another value
    assert calls == [1, 3]
    f.write_bytes(b"abcd")                            # a changed file is read again ...
    assert cache.get(f, make(4), "float32") == 4
    assert len(cache) == 1                            # ... and its old versions are dropped
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same size, newer mtime
    assert cache.get(f, make(5), "float32") == 5


def test_a_folder_changes_with_any_file_in_it(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.tflite").write_bytes(b"1")
    before = stamp(tmp_path)
    (tmp_path / "sub" / "b.tflite").write_bytes(b"2")
    assert stamp(tmp_path) != before
    cache, (calls, make) = FileCache(), _counting()
    cache.get(tmp_path, make("x"))
    (tmp_path / "sub" / "a.tflite").write_bytes(b"11")
    assert cache.get(tmp_path, make("y")) == "y" and calls == ["x", "y"]


def test_bounded(tmp_path):
    cache, (_, make) = FileCache(max_entries=3), _counting()
    for i in range(5):
        p = tmp_path / f"{i}"
        p.write_bytes(b"x")
        cache.get(p, make(i))
    assert len(cache) == 3
