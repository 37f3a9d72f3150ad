"""Ships `resources/` (the built-in tasks, sample configs and flows) inside the wheel as
`app/resources/`, where `app.resource_dir` finds it. Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's resources/ in place
        shutil.copytree(
            Path(__file__).parent / "resources",
            Path(self.build_lib) / "app" / "resources",
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )


setup(cmdclass={"build_py": BuildWithResources})
