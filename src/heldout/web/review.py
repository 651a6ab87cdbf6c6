"""Final review pages (``/review/datasets``): staff only, behind the admin key like ``/admin``.

    GET  /review/datasets                             sampled revisions and their review progress
    GET  /review/datasets/{name}                      the classes of a revision with their status
    GET  /review/datasets/{name}/classes/{class_key}  one class: sampled, reference and candidate
                                                      images, histograms, filters, decisions
    GET  /review/datasets/{name}/predictions          images most models get wrong (predictions
                                                      browser); marks correct / wrong / unclear
    GET  /review/images/{image_id}                    an image's stored 500 px rendition
    GET  /review/api/datasets/{name}/status           review progress as JSON
    GET  /review/api/datasets/{name}/classes/{key}    the class overview as JSON
    POST /review/api/datasets/{name}/classes/{key}    one save of the class page (JSON body)
    GET  /review/api/datasets/{name}/predictions      the disputed images as JSON
    POST /review/api/labels                           a verdict on (image, class)

Pages render what :mod:`heldout.review` returns; every write goes through the app's one writer
and names its reviewer (the page keeps the name in the browser). Images are served by id here,
as the admin task inspector does: staff see ids anyway, and the path needs the admin key.
Predictions for the browser are the prediction files in ``<project>/predictions/<name>/`` (one
file per model, rows in the dataset's order or carrying ids).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from heldout.crowd.workers import check_field
from heldout.evaluate import Predictions, find_prediction_files, load_predictions
from heldout.project import Project
from heldout.review import (
    LABEL_STATES,
    ClassOverview,
    class_overview,
    disputed_images,
    list_sampled,
    record_label_review,
    review_status,
    select_candidates,
    update_class,
)
from heldout.web.deps import AdminDep
from heldout.web.images import IMAGE_HEADERS

__all__ = ["PREDICTIONS_FOLDER", "router"]

router = APIRouter(prefix="/review", tags=["review"])

PREDICTIONS_FOLDER = "predictions"
"""Under the project root: ``predictions/<dataset name>/<model>.npy`` feeds the predictions browser."""

_HERE = Path(__file__).resolve().parent
_MAX_IDS = 2000
ImageId = Annotated[str, Field(min_length=1, max_length=128)]
IdList = Annotated[list[ImageId], Field(max_length=_MAX_IDS)]
Choice = Literal["all", "yes", "no"]


class ClassUpdateBody(BaseModel):
    """One save of the class page."""

    model_config = ConfigDict(extra="forbid")

    reviewer: str = Field(max_length=64)
    blacklist_add: IdList = []
    blacklist_remove: IdList = []
    flag_add: IdList = []
    flag_remove: IdList = []
    duplicate_sets: Annotated[list[IdList], Field(max_length=100)] = []
    status: Literal["reviewed", "problematic", "unreviewed"] | None = None


class LabelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewer: str = Field(max_length=64)
    image_id: ImageId
    class_key: str = Field(min_length=1, max_length=64)
    state: Literal["correct", "wrong", "unclear"]


# --- pages ---------------------------------------------------------------------------------------


@router.get("/datasets")
def datasets_page(request: Request, state: AdminDep) -> Response:
    statuses = [review_status(state.project, name) for name in list_sampled(state.project)]
    return state.templates.TemplateResponse(request, "review_index.html", {"statuses": statuses})


@router.get("/datasets/{name}")
def classes_page(
    name: str,
    request: Request,
    state: AdminDep,
    status: Literal["all", "unreviewed", "reviewed", "problematic"] = "all",
) -> Response:
    summary = review_status(state.project, name)
    rows = [c for c in summary.classes if status in ("all", c.status)]
    return state.templates.TemplateResponse(
        request, "review_classes.html", {"s": summary, "rows": rows, "shown": status}
    )


@router.get("/datasets/{name}/classes/{class_key}")
def class_page(
    name: str,
    class_key: str,
    request: Request,
    state: AdminDep,
    blacklisted: Choice = "all",
    near_duplicate: Choice = "all",
    frequency_bin: Annotated[int | None, Query(ge=0, le=4)] = None,
    sort: Literal["frequency", "date", "id"] = "frequency",
    order: Literal["desc", "asc"] = "desc",
) -> Response:
    overview = class_overview(state.project, name, class_key)
    pool = select_candidates(
        overview.candidates,
        blacklisted=_choice(blacklisted),
        near_duplicate=_choice(near_duplicate),
        frequency_bin=frequency_bin,
        sort=sort,
        descending=order == "desc",
    )
    keys = [c.class_key for c in review_status(state.project, name).classes]
    position = keys.index(class_key) if class_key in keys else -1
    context = {
        "o": overview,
        "pool": pool,
        "histograms": _histograms(overview),
        "filters": {
            "blacklisted": blacklisted,
            "near_duplicate": near_duplicate,
            "frequency_bin": frequency_bin,
            "sort": sort,
            "order": order,
        },
        "previous_key": keys[position - 1] if position > 0 else None,
        "next_key": keys[position + 1] if 0 <= position < len(keys) - 1 else None,
    }
    return state.templates.TemplateResponse(request, "review_class.html", context)


@router.get("/datasets/{name}/predictions")
def predictions_page(
    name: str,
    request: Request,
    state: AdminDep,
    min_models: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    predictions = _dataset_predictions(state.project, name)
    disputed = (
        disputed_images(state.project, name, predictions, min_models=min_models, limit=limit)
        if predictions
        else []
    )
    folder = state.project.root / PREDICTIONS_FOLDER / name
    return state.templates.TemplateResponse(
        request,
        "review_predictions.html",
        {
            "name": name,
            "disputed": disputed,
            "models": [p.model for p in predictions],
            "folder": folder,
            "states": LABEL_STATES,
        },
    )


@router.get("/images/{image_id}")
def image(image_id: str, state: AdminDep) -> Response:
    return Response(
        state.project.images.bytes(image_id, "500"), media_type="image/jpeg", headers=IMAGE_HEADERS
    )


@router.get("/static/review.js", include_in_schema=False)
def script() -> FileResponse:
    return FileResponse(_HERE / "static" / "review.js", media_type="text/javascript")


# --- JSON ----------------------------------------------------------------------------------------


@router.get("/api/datasets/{name}/status")
def status_json(name: str, state: AdminDep) -> JSONResponse:
    return JSONResponse(_jsonable(asdict(review_status(state.project, name))))


@router.get("/api/datasets/{name}/classes/{class_key}")
def class_json(name: str, class_key: str, state: AdminDep) -> JSONResponse:
    overview = class_overview(state.project, name, class_key)
    return JSONResponse(_jsonable({**asdict(overview), **_histograms(overview)}))


@router.post("/api/datasets/{name}/classes/{class_key}")
async def save_class(name: str, class_key: str, body: ClassUpdateBody, state: AdminDep) -> JSONResponse:
    check_field(body.reviewer, "reviewer")
    result = await state.writer.run(
        update_class,
        state.project,
        name,
        class_key,
        blacklist_add=body.blacklist_add,
        blacklist_remove=body.blacklist_remove,
        flag_add=body.flag_add,
        flag_remove=body.flag_remove,
        duplicate_sets=body.duplicate_sets,
        status=body.status,
        reviewer=body.reviewer,
    )
    return JSONResponse(asdict(result))


@router.get("/api/datasets/{name}/predictions")
def predictions_json(
    name: str,
    state: AdminDep,
    min_models: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> JSONResponse:
    predictions = _dataset_predictions(state.project, name)
    disputed = disputed_images(state.project, name, predictions, min_models=min_models, limit=limit)
    return JSONResponse([asdict(d) for d in disputed])


@router.post("/api/labels")
async def save_label(body: LabelBody, state: AdminDep) -> JSONResponse:
    check_field(body.reviewer, "reviewer")
    await state.writer.run(
        record_label_review, state.project, body.image_id, body.class_key, body.state, body.reviewer
    )
    return JSONResponse({"image_id": body.image_id, "class_key": body.class_key, "state": body.state})


# --- machinery -----------------------------------------------------------------------------------


def _choice(value: str) -> bool | None:
    return None if value == "all" else value == "yes"


def _histograms(overview: ClassOverview) -> dict[str, list[int]]:
    return {
        "reference_histogram": overview.reference_histogram.tolist(),
        "target_histogram": overview.target_histogram.tolist(),
        "eligible_histogram": overview.eligible_histogram.tolist(),
    }


def _jsonable(value: Any) -> Any:
    """Dataclass dicts as JSON: arrays as lists, times as ISO strings."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _dataset_predictions(project: Project, name: str) -> list[Predictions]:
    """Every model's predictions on ``name`` from the project's predictions folder (none if absent)."""
    folder = project.root / PREDICTIONS_FOLDER / name
    if not folder.is_dir():
        return []
    return [load_predictions(path) for path in find_prediction_files(folder)]
