"""The shipped dense98: one model, three markups (98 WFLW points, 68 of 300-W, 5 of CUHK)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from facepoints import FaceLandmarker
from facepoints.models.cards import read_card
from facepoints.models.pretrained import WEIGHTS_DIR, resolve_model
from facepoints.schemes import IBUG68, WFLW98, project

ROOT = WEIGHTS_DIR.parents[1]


@pytest.fixture(scope="module")
def photo(w300_root):
    from facepoints.data import read_dataset
    from facepoints.io import load_image

    test = read_dataset("300w", "test", data_root=w300_root)
    return load_image(test.images[0]), test.boxes[:1], test.points[0], test.images[0]


def test_model_predicts_three_blocks_and_shows_98_points_by_default(photo):
    loaded = resolve_model("dense98")
    assert loaded.scheme.name == "wflw98+ibug68+cuhk5" and loaded.confidence is not None
    lm = FaceLandmarker("dense98", refine=False)
    assert lm.scheme is WFLW98
    rgb, box, truth, _ = photo
    p98 = lm.landmarks(rgb, box)[0]
    p68 = FaceLandmarker("dense98", refine=False, scheme=68).landmarks(rgb, box)[0]
    p5 = FaceLandmarker("dense98", refine=False, scheme="cuhk5").landmarks(rgb, box)[0]
    assert p98.shape == (98, 2) and p68.shape == (68, 2) and p5.shape == (5, 2)
    iod = float(IBUG68.norm_distance(truth))
    # the 300-W block is its own output, close to (not equal to) the WFLW block's 68 points
    gap = np.linalg.norm(p68 - project(p98, WFLW98, IBUG68), axis=1).mean() / iod
    assert 0 < gap < 0.05
    assert np.linalg.norm(p68 - truth, axis=1).mean() / iod < 0.08  # on a 300-W test face
    eyes = truth[36:42].mean(0), truth[42:48].mean(0)
    assert (
        np.linalg.norm(p5[0] - eyes[0]) < 0.15 * iod
        and np.linalg.norm(p5[1] - eyes[1]) < 0.15 * iod
    )


def test_a_photo_without_a_face_gives_no_faces_in_any_scheme(photo):
    rgb = photo[0]
    # the photo's corner, where no face is, and a flat grey frame, beside the whole photo
    empty = [np.ascontiguousarray(rgb[:60, :60]), np.full((240, 320, 3), 128, np.uint8)]
    for scheme in (None, 68, "cuhk5"):
        lm = FaceLandmarker("dense98", scheme=scheme)  # the defaults: mirror, second pass
        for image in empty:
            assert lm.detect(image) == []
        got = lm.detect_batch([empty[1], rgb, empty[0]])
        assert [len(g) for g in got][::2] == [0, 0] and len(got[1]) >= 1
        assert got[1][0].landmarks.shape == (lm.scheme.num_points, 2)


def test_predict_and_http_give_the_scheme_asked_for(tmp_path, photo):
    r = subprocess.run(
        [sys.executable, "-m", "facepoints", "predict", "--demo", "--model", "dense98",
         "--scheme", "68", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    result = json.loads(next(tmp_path.glob("*.json")).read_text())
    faces = (result if isinstance(result, dict) else result[0])["faces"]
    assert faces and all(len(f["landmarks"]) == 68 and f["scheme"] == "ibug68" for f in faces)

    from fastapi.testclient import TestClient

    from facepoints.serve.app import create_app

    client = TestClient(create_app(), base_url="http://127.0.0.1")
    body = {"image": ("face.jpg", photo[3].read_bytes(), "image/jpeg")}
    got = client.post("/api/landmarks?model=dense98&scheme=cuhk5", files=body)
    assert got.status_code == 200, got.text
    assert {len(f["landmarks"]) for f in got.json()["faces"]} == {5}
    dense = client.post("/api/landmarks?model=dense98&scheme=68", files=body).json()["faces"][0]
    assert len(dense["landmarks"]) == 68 and abs(dense["pose"]["yaw"]) < 90
    assert 0 <= dense["openness"]["left_eye"] and 0 <= dense["smile"] <= 1
    assert client.post("/api/landmarks?model=dense98&scheme=12", files=body).status_code == 422
    assert client.post("/api/landmarks?model=cuhk5-resnet&scheme=98", files=body).status_code == 422
    models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
    assert models["dense98"]["points"] == 98
    assert set(models["dense98"]["schemes"]) == {"cuhk5", "ibug68", "wflw98"}


def test_card_states_data_terms_recipe_and_figures():
    card = read_card(WEIGHTS_DIR / "dense98.md")
    assert "non-commercial" in card.licence and "300-W" in card.licence
    rows = card.test_figures()
    assert {r["Test set"].split(",")[0] for r in rows} >= {"300-W test", "CUHK test"}
    text = (WEIGHTS_DIR / "dense98.md").read_text()
    stages = (
        "dense98-stage1",
        "dense98-stage2",
        "dense98-deep",
        "dense98-stage4",
        "dense98-stage5",
        "dense98-stage6",
        "dense98-stage7",
        "dense98-stage8",
        "dense98-stage9",
        "dense98-stage10",
        "dense98-stage11",
        "dense98",
    )
    for stage in stages:
        assert f"recipes/{stage}.json" in text and (ROOT / "recipes" / f"{stage}.json").is_file()
    # each stage starts from the one before: the chain is reproducible from the shipped dense68
    inits = {
        stage: json.loads((ROOT / "recipes" / f"{stage}.json").read_text())["init"]
        for stage in stages
    }
    assert inits == {
        "dense98-stage1": "dense68",
        "dense98-stage2": "runs/dense98-stage1",
        "dense98-deep": "runs/dense98-stage2",
        "dense98-stage4": "runs/dense98-deep",
        "dense98-stage5": "runs/dense98-stage4",
        "dense98-stage6": "runs/dense98-stage5/last.pt",
        "dense98-stage7": "runs/dense98-stage6/last.pt",
        # stage 7 shipped under the name (the card's commands), then tuned from what shipped
        "dense98-stage8": "dense98",
        "dense98-stage9": "dense98",
        "dense98-stage10": "dense98",
        "dense98-stage11": "dense98",
        "dense98": "dense98",
    }
    # the made folders the last three stages draw from are made by commands the card states
    mixes = {
        stage: json.loads((ROOT / "recipes" / f"{stage}.json").read_text())["mix"]
        for stage in ("dense98-stage5", "dense98-stage6", "dense98-stage7", "dense98")
    }
    assert mixes["dense98-stage6"] == mixes["dense98-stage5"]
    mix = mixes["dense98-stage7"]  # stage 6's sets, and the copies turned further
    assert set(mix) == set(mixes["dense98-stage6"]) | {"300w-profile"}
    assert mixes["dense98"] == mix  # the last stage: the same faces, lighter augmentation
    made = {p["data_root"] for p in mix.values() if p["data_root"].startswith("runs/")}
    assert made == {"runs/300w-turned", "runs/300w-pitched", "runs/300w-profile"}
    for folder in made:
        assert f"facepoints data turn --data-root ../shared/data/300w --out {folder}" in text
    assert "--out runs/300w-profile --yaw 45,75 --outline" in text
