"""The config dialog edits one config through both tabs: every edit crosses when the tab
changes, a save from either tab keeps them all, and a name that exists is asked about."""

import pytest
from PySide6.QtWidgets import QMessageBox

from app.core.fl_config import config_from_toml
from app.ui.dialogs.config import ConfigDialog


def _dialog(qtbot, ctx, base=None) -> ConfigDialog:
    dialog = ConfigDialog(ctx, base)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.task.count() > 1, timeout=5000)  # tasks listed
    return dialog


def _fill(dialog: ConfigDialog) -> None:
    dialog.widgets["name"].setText("digits-fedprox")
    dialog.widgets["algorithm.name"].setCurrentText("fedprox")
    dialog.widgets["training.rounds"].setValue(150)


@pytest.mark.parametrize("save_from", ["form", "toml"])
def test_form_edits_reach_the_toml_and_are_saved_from_either_tab(qtbot, admin_ctx, save_from):
    dialog = _dialog(qtbot, admin_ctx)
    _fill(dialog)
    dialog.tabs.setCurrentIndex(1)
    text = dialog.toml.toPlainText()
    assert 'name = "digits-fedprox"' in text and "rounds = 150" in text
    assert 'name = "fedprox"' in text
    if save_from == "form":
        dialog.tabs.setCurrentIndex(0)
    with qtbot.waitSignal(dialog.saved, timeout=5000) as saved:
        dialog._save()
    body = saved.args[0].body
    assert saved.args[0].name == "digits-fedprox"
    assert body["algorithm"]["name"] == "fedprox" and body["training"]["rounds"] == 150


def test_toml_edits_reach_the_form_and_a_broken_toml_keeps_its_tab(qtbot, admin_ctx):
    dialog = _dialog(qtbot, admin_ctx)
    dialog.tabs.setCurrentIndex(1)
    text = dialog.toml.toPlainText().replace("rounds = 20", "rounds = 77")
    dialog.toml.setPlainText(text.replace('name = "new-config"', 'name = "from-toml"'))
    dialog.tabs.setCurrentIndex(0)
    assert dialog.widgets["training.rounds"].value() == 77
    assert dialog.widgets["name"].text() == "from-toml"
    dialog.tabs.setCurrentIndex(1)
    dialog.toml.setPlainText(dialog.toml.toPlainText().replace("rounds = 77", "rounds = -3"))
    dialog.tabs.setCurrentIndex(0)  # refused: the TOML stays in front, saying why
    assert dialog.tabs.currentIndex() == 1
    assert "training.rounds" in dialog.general.text()
    assert dialog.widgets["training.rounds"].value() == 77  # the form was not touched


def test_a_new_config_with_an_existing_name_is_asked_about(qtbot, admin_ctx, monkeypatch):
    services, actor = admin_ctx.services, admin_ctx.actor
    services.configs.save(actor, config_from_toml('name = "digits-fedprox"\n'))
    answers = []

    def answer(*args, **kwargs):
        answers.append(args[2])
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", answer)
    dialog = _dialog(qtbot, admin_ctx)
    _fill(dialog)
    dialog._save()
    qtbot.waitUntil(lambda: bool(answers), timeout=5000)
    assert "'digits-fedprox' exists (latest version 1)" in answers[0]
    qtbot.waitUntil(dialog.buttons.isEnabled, timeout=5000)
    assert services.configs.latest_version(actor, "digits-fedprox") == 1  # nothing saved
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Save)
    with qtbot.waitSignal(dialog.saved, timeout=5000) as saved:
        dialog._save()
    assert saved.args[0].version == 2


def test_editing_a_config_saves_its_next_version_without_asking(qtbot, admin_ctx, monkeypatch):
    services, actor = admin_ctx.services, admin_ctx.actor
    base = config_from_toml('name = "c1"\n[training]\nrounds = 5\n')
    services.configs.save(actor, base)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("asked"))
    dialog = _dialog(qtbot, admin_ctx, base)
    dialog.widgets["training.rounds"].setValue(6)
    with qtbot.waitSignal(dialog.saved, timeout=5000) as saved:
        dialog._save()
    assert (saved.args[0].version, saved.args[0].body["training"]["rounds"]) == (2, 6)


def test_secure_aggregation_is_switched_in_the_form_and_checked_on_save(qtbot, admin_ctx):
    dialog = _dialog(qtbot, admin_ctx)
    dialog.widgets["name"].setText("digits-secure")
    dialog.widgets["secure_aggregation.enabled"].setChecked(True)
    dialog.widgets["training.min_clients"].setValue(2)
    dialog._save()  # refused: with two edges each could read the other's update
    qtbot.waitUntil(lambda: "min_clients of at least 3" in dialog.general.text(), timeout=5000)
    dialog.widgets["training.min_clients"].setValue(3)
    dialog.tabs.setCurrentIndex(1)
    assert "[secure_aggregation]\nenabled = true" in dialog.toml.toPlainText()
    with qtbot.waitSignal(dialog.saved, timeout=5000) as saved:
        dialog._save()
    assert saved.args[0].body["secure_aggregation"] == {"enabled": True, "max_dropout": 0.3}
