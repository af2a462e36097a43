"""Mumbai ke dabbawale: 99.9999% accuracy wala delivery workflow (``dabbawala_delivery``).

Seed ka chain: ghar-ghar se collection (one task per area, in parallel) >> sorting by
destination >> local train mein loading >> office delivery >> khaali dabbe wapas.
Homes, trains and offices are simulated deterministically from the run's date.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from simulated import between, local_time, pick, run_day

AREA_STATIONS = {
    "kandivali": "Kandivali",
    "malad": "Malad",
    "goregaon": "Goregaon",
    "jogeshwari": "Jogeshwari",
}
"""Collection areas of the seed, with their local station."""

DESTINATIONS = ("Churchgate", "Grant Road", "Lower Parel", "Dadar")
STATION_CODES = {
    "Kandivali": "KN",
    "Malad": "ML",
    "Goregaon": "GG",
    "Jogeshwari": "JO",
    "Churchgate": "CG",
    "Grant Road": "GR",
    "Lower Parel": "LP",
    "Dadar": "DR",
}
BUILDINGS = ("Nariman Bhavan", "Express Towers", "Peninsula Park", "Kohinoor Square")
TRAVEL_MINUTES = {"Churchgate": 52, "Grant Road": 46, "Lower Parel": 38, "Dadar": 31}


def generate_color_code(source_station: str, destination_station: str, building: str) -> str:
    """Dabbawala ka secret sauce: origin, destination and building in one short mark."""
    floor = between(1, 12, building)
    return f"{STATION_CODES[source_station]}-{STATION_CODES[destination_station]}-{floor:02d}"


def _tiffin(area: str, day: str, number: int) -> dict[str, Any]:
    station = AREA_STATIONS[area]
    destination = pick(DESTINATIONS, area, day, number, "destination")
    building = pick(BUILDINGS, area, day, number, "building")
    return {
        "tiffin_id": f"{area[:3]}-{number:03d}",
        "pickup_station": station,
        "destination_station": destination,
        "office_building": building,
        "color_code": generate_color_code(station, destination, building),
    }


def collect_tiffins(area: str, run: dict[str, Any]) -> dict[str, Any]:
    """Ek area ke gharon se tiffin collect karo (3 to 6 per area, same every run-day)."""
    if area not in AREA_STATIONS:
        raise ValueError(f"unknown collection area {area!r}; known: {sorted(AREA_STATIONS)}")
    day = run_day(run)
    count = between(3, 6, area, day, "count")
    tiffins = [_tiffin(area, day, n) for n in range(1, count + 1)]
    return {"area": area, "collected": count, "tiffins": tiffins}


def validate_color_codes(tiffins: list[dict[str, Any]]) -> None:
    """Quality check: every mark must match its route, warna galat office pahunchega."""
    for tiffin in tiffins:
        expected = generate_color_code(
            tiffin["pickup_station"], tiffin["destination_station"], tiffin["office_building"]
        )
        if tiffin["color_code"] != expected:
            raise ValueError(
                f"tiffin {tiffin['tiffin_id']}: mark {tiffin['color_code']!r} "
                f"should be {expected!r}"
            )


def sort_tiffins(outputs: dict[str, Any]) -> dict[str, Any]:
    """Destination ke hisaab se sort karo (fan-in of every collect_* task)."""
    tiffins = [
        t
        for name, out in sorted(outputs.items())
        if name.startswith("collect_")
        for t in out["tiffins"]
    ]
    validate_color_codes(tiffins)
    groups: dict[str, list[dict[str, Any]]] = {}
    for tiffin in tiffins:
        groups.setdefault(tiffin["destination_station"], []).append(tiffin)
    return {
        "sorted_groups": groups,
        "total_tiffins": len(tiffins),
        "total_destinations": len(groups),
        "quality_check": "passed",
    }


def _train_for(station: str, run: dict[str, Any]) -> dict[str, Any]:
    start = local_time(run).replace(hour=9, minute=0, second=0, microsecond=0)
    departure = start.replace(minute=between(5, 35, station, run_day(run)))
    arrival = departure + timedelta(minutes=TRAVEL_MINUTES[station])
    return {
        "train_id": f"BO-{STATION_CODES[station]}-{departure:%H%M}",
        "departure": departure.strftime("%H:%M"),
        "arrival": arrival.strftime("%H:%M"),
    }


def load_on_trains(outputs: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """Har destination ke liye sahi local train chuno aur dabbe load karo."""
    plan: dict[str, Any] = {}
    for station, tiffins in sorted(outputs["sort_tiffins"]["sorted_groups"].items()):
        train = _train_for(station, run)
        plan[train["train_id"]] = {
            "destination": station,
            "departure_time": train["departure"],
            "estimated_delivery": train["arrival"],
            "tiffin_ids": [t["tiffin_id"] for t in tiffins],
        }
    return {"loading_plan": plan, "trains": len(plan)}


async def deliver_to_offices(outputs: dict[str, Any]) -> dict[str, Any]:
    """Station se office tak: every tiffin reaches its desk before lunch."""
    results: dict[str, Any] = {}
    for train_id, leg in outputs["load_on_trains"]["loading_plan"].items():
        delivered = len(leg["tiffin_ids"])
        results[leg["destination"]] = {
            "train_id": train_id,
            "total_deliveries": delivered,
            "successful_deliveries": delivered,
            "delivered_by": leg["estimated_delivery"],
        }
    total = sum(r["total_deliveries"] for r in results.values())
    ok = sum(r["successful_deliveries"] for r in results.values())
    accuracy = round(100.0 * ok / total, 4) if total else 100.0
    return {"by_station": results, "total_deliveries": total, "accuracy_rate": accuracy}
