"""How the simulated country behaves: sizes, shares, hazards, complaint rates, adoption and
the rates of injected rule-breaking, each with where its figure comes from (docs/SIMULATION.md)."""

from __future__ import annotations

import numpy as np

# In service at the start per unit of --scale. China has ~1.79e9 mobile subscriptions, so the
# scale-1 country is ~1/9,000 of China.
NUMBERS_PER_SCALE = 200_000
CARRIER_SHARE = {"CM": 0.555, "CT": 0.235, "CU": 0.19, "CBN": 0.01}
MVNO_SHARE = 0.01
PREFIXES = {
    "CM": (
        "134",
        "135",
        "136",
        "137",
        "138",
        "139",
        "147",
        "150",
        "151",
        "152",
        "157",
        "158",
        "159",
        "178",
        "182",
        "183",
        "184",
        "187",
        "188",
        "195",
        "197",
        "198",
    ),
    "CU": ("130", "131", "132", "145", "155", "156", "166", "175", "176", "185", "186", "196"),
    "CT": ("133", "149", "153", "173", "177", "180", "181", "189", "190", "191", "193", "199"),
    "CBN": ("192",),
}
MVNO_PREFIXES = {
    "CM": ("1703", "1705", "1706", "165"),
    "CU": ("1704", "1707", "1708", "1709", "171", "167"),
    "CT": ("1700", "1701", "1702", "162"),
}

# Monthly hazards of an ACTIVE number (suspend for arrears, keep on request, cancel, port).
ACTIVE_RATES = {"carrier": (0.020, 0.002, 0.012, 0.0025), "mvno": (0.030, 0.001, 0.025, 0.0)}
# Monthly new subscriptions as a share of the start population: replaces churn plus ~0.3% growth.
NEW_RATE = {"carrier": 0.0215, "mvno": 0.036}
REUSE_SHARE = 0.6  # a new subscription takes a cooled-down number when one is available
SAME_HOLDER_BACK = 0.02  # the last holder takes the number back during the freeze
# Fate of a suspension: resume, keep, cancel, reclaimed (recycled) after 91-150 days.
SUSP_FATE = (0.55, 0.05, 0.10, 0.30)
KEPT_FATE = (0.6, 0.4)

# Complaints (see docs/SIMULATION.md): China Unicom, 16,855 secondary-number complaints in 2016
# (~1,400 a month) for ~264M subscribers = 5.3e-6 per subscriber-month. The simulated rates are
# AMPLIFY times that ("the real number of affected users is far higher"), so a scale-1 country
# shows a few a day.
CU_2016_MONTHLY_PER_SUB = 16_855 / 12 / 264e6
AMPLIFY = 100.0
SECONDARY_PER_SUB_DAY = CU_2016_MONTHLY_PER_SUB * AMPLIFY / 30.4
SECONDARY_ON_REASSIGNED = 0.8  # share aimed at numbers reassigned within the last 365 days
MARKING_APP_PER_SUB_DAY = SECONDARY_PER_SUB_DAY * 1.0
MISMARKED_SHARE_OF_MARKING = 0.36  # 36% of complaints against number-marking apps: wrong marks
OTHER_PER_SUB_DAY = SECONDARY_PER_SUB_DAY * 0.5
VERIFICATION_PER_NEW_NUMBER_DAY = 0.004  # times the share of organisations not yet supporting it
VERIFICATION_BACKGROUND = 0.05  # of the secondary rate, on old numbers

N_ORGS = {"BANK": 170, "PAYMENT": 90, "APP": 210}
N_MARKING_APPS = 12
ADOPT_MEDIAN = {"BANK": 70.0, "PAYMENT": 40.0, "APP": 25.0}
ADOPT_SPREAD = 12.0
LAGGARDS = 0.12

# Rule-breaking injected with faults on (shares of the triggering transition).
F_PREMATURE = 0.015  # of suspensions: reclaimed before 90 days (30-85 days; snapshot ones sooner)
F_FORGOTTEN = 0.01  # of suspensions: never resolved (idle resource)
F_COOLING = 0.02  # of tenure ends: reassigned to a new subscriber 10-60 days later
F_DUP_CANCEL = 0.004  # of cancels: reported twice (second one meets no open tenure)
F_DUP_RESUME = 0.01  # of resumes: reported twice (second one meets an ACTIVE number)
F_IDLE_SNAPSHOT = 0.02  # of suspended numbers in a snapshot: suspended 150-400 days, never resolved

HOUR_WEIGHTS = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 3, 6, 8, 9, 9, 8, 8, 9, 9, 8, 8, 7, 6, 5, 4, 3, 2], dtype=float)
HOUR_P = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
