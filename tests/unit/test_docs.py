"""The README's configuration table and the code agree."""

from pathlib import Path

from shared.config import COMPONENTS, ENV_VARS, SERVICES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_starts_with_the_two_commands() -> None:
    head = README[:400]
    assert "make run" in head and "make test" in head


def test_every_variable_the_code_reads_is_documented() -> None:
    per_component = {f"EYHUB_{c.upper()}_DATABASE_URL" for c in COMPONENTS} | {
        f"EYHUB_{s.upper()}_URL" for s in SERVICES
    }
    missing = [name for name in ENV_VARS if name not in per_component and f"`{name}`" not in README]
    assert not missing, f"add to README's configuration table: {missing}"
    assert "`EYHUB_<COMPONENT>_DATABASE_URL`" in README
    assert "`EYHUB_<SERVICE>_URL`" in README
