"""signkd.atomic: the one way result files are written."""
import os

from signkd.atomic import atomic_write_text


def test_a_link_planted_at_the_temp_name_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep", encoding="utf-8")
    target = tmp_path / "run" / "metrics.json"
    target.parent.mkdir()
    (target.parent / f".{target.name}.tmp{os.getpid()}").symlink_to(victim)
    atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "new" and not target.is_symlink()
    assert victim.read_text(encoding="utf-8") == "keep"
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]
