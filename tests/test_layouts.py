"""Submissions shaped like a repository or a zipped folder: each lab module is found once."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import COURSE, EXERCISES, REFERENCE

from labkit.intake import classfolder, submission

LABS = list(COURSE.labs)


def repository(root: Path) -> Path:
    """A student's repository as GitHub or Bitbucket hands it in: the release's layout."""
    for folder in ("exercises", "notebooks", "graders", "labkit", "reference", ".venv/lib"):
        (root / folder).mkdir(parents=True)
    shutil.copy(REFERENCE / "cv1_mnist_intro.py", root / "exercises")
    shutil.copy(EXERCISES / "cv2_fashion_mnist_intro.py", root / "exercises")
    (root / "notebooks" / "cv1_mnist_intro.ipynb").write_text("{}")  # exercises/ wins
    (root / "notebooks" / "cv3_mnist_cnn.ipynb").write_text("{}")  # the only cv3
    # The grader's own folders and a virtualenv hold lab-named files that are never graded.
    shutil.copy(REFERENCE / "cv4_cifar_cnn.py", root / "reference")
    (root / "graders" / "cv4_cifar_cnn.py").write_text("")
    (root / "labkit" / "cv4_cifar_cnn.py").write_text("")
    (root / ".venv" / "lib" / "cv4_cifar_cnn.py").write_text("")
    (root / "README.md").write_text("my labs\n")
    return root


def test_a_repository_is_searched_for_its_lab_modules(tmp_path):
    root = repository(tmp_path / "repo")
    found = submission.locate(root, LABS)
    assert found == {
        "cv1_mnist_intro": root / "exercises" / "cv1_mnist_intro.py",
        "cv2_fashion_mnist_intro": root / "exercises" / "cv2_fashion_mnist_intro.py",
        "cv3_mnist_cnn": root / "notebooks" / "cv3_mnist_cnn.ipynb",
        "cv4_cifar_cnn": None,
    }


def test_a_zipped_folder_keeps_its_top_folder(tmp_path):
    repository(tmp_path / "upload" / "labs-main")
    found = submission.locate(tmp_path / "upload", LABS)
    assert found["cv1_mnist_intro"] == (
        tmp_path / "upload" / "labs-main" / "exercises" / "cv1_mnist_intro.py"
    )
    assert found["cv4_cifar_cnn"] is None


def test_the_top_folder_wins_and_two_equal_matches_are_none(tmp_path):
    for folder in ("a", "b", "exercises"):
        (tmp_path / folder).mkdir()
    (tmp_path / "cv1_mnist_intro.py").write_text("")
    (tmp_path / "exercises" / "cv1_mnist_intro.py").write_text("")
    (tmp_path / "a" / "cv3_mnist_cnn.py").write_text("")
    (tmp_path / "b" / "cv3_mnist_cnn.py").write_text("")
    found = submission.locate(tmp_path, LABS)
    assert found["cv1_mnist_intro"] == tmp_path / "cv1_mnist_intro.py"
    assert found["cv3_mnist_cnn"] is None  # which one the student meant is unknown


def test_a_repository_is_graded_and_says_which_file(grade, tmp_path):
    root = repository(tmp_path / "repo")
    graded = grade(root, "--lab", "cv1_mnist_intro")
    assert graded.score("cv1_mnist_intro") == (11, 11), graded.run.stdout.str()[-2000:]
    note = graded.output("cv1_mnist_intro", "submission")
    assert note == "graded exercises/cv1_mnist_intro.py"


def test_a_class_folder_takes_each_students_repository_as_labkit_grade_would(tmp_path):
    """A class of repositories, one cloned and one zipped: the same files as ``locate`` finds,
    with the helpers beside them, and never the grader's copies."""
    classroom = tmp_path / "class"
    repository(classroom / "ana")
    (classroom / "ana" / "exercises" / "helpers.py").write_text("SIZE = 28\n")
    repository(tmp_path / "ben")
    shutil.make_archive(str(classroom / "ben"), "zip", tmp_path, "ben")
    entries = {e.student: e for e in classfolder.collect(classroom, LABS, tmp_path / "staging")}
    for student in ("ana", "ben"):
        files = entries[student].files()
        assert entries[student].problem == ""
        assert set(files) >= {"cv1_mnist_intro.py", "cv2_fashion_mnist_intro.py"}
        assert (
            files["cv1_mnist_intro.py"].read_text()
            == (REFERENCE / "cv1_mnist_intro.py").read_text()
        )
        assert "cv4_cifar_cnn.py" not in files  # only in reference/, graders/, labkit/, .venv/
    assert entries["ana"].files()["helpers.py"].read_text() == "SIZE = 28\n"
    assert "cv1_mnist_intro from exercises/" in entries["ana"].notes
    assert "cv3_mnist_cnn from notebooks/" in entries["ana"].notes
