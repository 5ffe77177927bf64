"""The police.uk context layer in the analysis layout of partnership reports, so hotspot, emerging
and evaluation code can run on it unchanged (``--source context``). The two are never mixed: this
frame is only ever analysed on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hoth_geo.schema import CONCERNS, keys_to_mask

__all__ = [
    "context_as_reports",
]


def context_as_reports(context: pd.DataFrame) -> pd.DataFrame:
    """``store.load_context`` rows -> the columns ``selection.filter_mask`` and ``located`` read.

    A crime's date is its month (police.uk publishes no day); its concern is the one mapped from the
    crime type; the agency is the force it falls within. There is no time of day.
    """
    n = len(context)
    concern = context["concern"].astype(object).where(context["concern"].notna(), None)
    return pd.DataFrame(
        {
            "id": context["id"].to_numpy() if "id" in context else np.arange(n),
            "observed_at": pd.to_datetime(context["month"]).to_numpy(),
            "time_known": np.zeros(n, dtype=bool),
            "time_in_words": np.zeros(n, dtype=bool),
            "date_approximate": np.ones(n, dtype=bool),
            "online": np.zeros(n, dtype=bool),
            "latitude": context["latitude"].to_numpy(float),
            "longitude": context["longitude"].to_numpy(float),
            "h3": context["h3"].to_numpy(dtype=np.int64),
            "concerns_mask": keys_to_mask(concern.tolist(), CONCERNS),
            "indicators_mask": np.zeros(n, dtype=np.int64),
            "place_id": pd.Categorical([None] * n),
            "place_type": context["place_type"].astype("category"),
            "agency": context["falls_within"].astype("category"),
            "agency_type": pd.Categorical(["police"] * n),
            "geocode_method": pd.Categorical(["policeuk"] * n),
            "grading_source": pd.Categorical([None] * n),
            "grading_information": pd.Categorical([None] * n),
        }
    )
