"""Flipkart order processing (``flipkart_order_processing``): har 2 minute, Big Billion Days scale.

``receive_order`` pulls the new orders, then four checks run side by side (payment,
inventory, seller, shipping) and ``confirm_order`` joins them. The payment check sits in
the ``payment_gateway`` pool so parallel runs never hit the gateway with more than its
slots. Sources, banks and warehouses are simulated from the run's logical time.
"""

from __future__ import annotations

from typing import Any

from simulated import between, pick

SOURCES = ("flipkart_app", "flipkart_website", "flipkart_lite", "seller_dashboard", "b2b_orders")
PAYMENT_METHODS = ("cod", "upi", "phonepe", "netbanking", "credit_card", "emi")
CITIES = (
    ("Mumbai", "Maharashtra", "400001"),
    ("Pune", "Maharashtra", "411001"),
    ("Chennai", "Tamil Nadu", "600001"),
    ("Bengaluru", "Karnataka", "560001"),
    ("Lucknow", "Uttar Pradesh", "226001"),
    ("Delhi", "Delhi", "110001"),
)
LANGUAGES = {"Maharashtra": "marathi", "Tamil Nadu": "tamil", "Karnataka": "kannada"}
WAREHOUSES = {"4": "Bhiwandi", "5": "Hoskote", "6": "Chennai", "1": "Farrukhnagar", "2": "Lucknow"}
HIGH_VALUE = 50_000
"""Cards above ₹50,000 go to manual review (seed's rule)."""


def _order(key: str, n: int) -> dict[str, Any]:
    city, state, pincode = pick(CITIES, key, n, "city")
    amount = between(199, 90_000, key, n, "amount")
    return {
        "order_id": f"OD{between(10**9, 10**10 - 1, key, n)}",
        "source": pick(SOURCES, key, n, "source"),
        "amount": amount,
        "payment_method": pick(PAYMENT_METHODS, key, n, "payment"),
        "delivery_address": {"city": city, "state": state, "pincode": pincode},
        "communication_language": LANGUAGES.get(state, "hindi"),
        "gst_rate_pct": 18 if amount > 1_000 else 12,
        "items": [{"product_id": f"P{between(100, 999, key, n, 'p')}", "quantity": 1}],
    }


def receive_order(run: dict[str, Any], max_orders: int = 6) -> dict[str, Any]:
    """Naye orders nikalo (1..max_orders per run), Indian context ke saath enhance karke."""
    key = str(run["logical_date"])
    orders = [_order(key, n) for n in range(between(1, max_orders, key, "count"))]
    return {"total_orders": len(orders), "orders": orders, "batch": run["run_id"]}


def _payment(order: dict[str, Any]) -> dict[str, Any]:
    method = order["payment_method"]
    status = "approved"
    if method == "emi":
        status = pick(("approved", "pending"), order["order_id"], "emi")
    review = method in ("netbanking", "credit_card") and order["amount"] > HIGH_VALUE
    return {"order_id": order["order_id"], "status": status, "manual_review": review}


def verify_payment(outputs: dict[str, Any]) -> dict[str, Any]:
    """Payment status: COD turant, UPI bank se, cards poori verification, EMI partner se."""
    results = [_payment(o) for o in outputs["receive_order"]["orders"]]
    approved = [r["order_id"] for r in results if r["status"] == "approved"]
    return {
        "results": results,
        "approved": approved,
        "manual_review": [r["order_id"] for r in results if r["manual_review"]],
    }


def check_inventory(outputs: dict[str, Any]) -> dict[str, Any]:
    """Pincode ke paas wala warehouse, aur stock: about one product in ten is out of stock."""
    allocations: dict[str, Any] = {}
    for order in outputs["receive_order"]["orders"]:
        product = order["items"][0]["product_id"]
        in_stock = between(0, 9, product, "stock") > 0
        warehouse = WAREHOUSES.get(order["delivery_address"]["pincode"][0], "Bhiwandi")
        allocations[order["order_id"]] = {"available": in_stock, "warehouse": warehouse}
    return {"allocations": allocations}


def notify_seller(outputs: dict[str, Any]) -> dict[str, Any]:
    """Seller ko Hindi mein batao ki naya order aaya hai."""
    orders = outputs["receive_order"]["orders"]
    messages = [
        f"नया ऑर्डर मिला! Order ID: {o['order_id']}. Dispatch के लिए तैयार करें।" for o in orders
    ]
    return {"sellers_notified": len(messages), "messages": messages}


def assign_shipping(outputs: dict[str, Any]) -> dict[str, Any]:
    """Pincode zone ke hisaab se courier partner assign karo."""
    partners = ("ekart", "delhivery", "xpressbees")
    plan = {
        o["order_id"]: {
            "partner": pick(partners, o["delivery_address"]["pincode"]),
            "zone": f"zone_{o['delivery_address']['pincode'][0]}",
        }
        for o in outputs["receive_order"]["orders"]
    }
    return {"shipments": plan}


def confirm_order(outputs: dict[str, Any]) -> dict[str, Any]:
    """Fan-in: paid, in stock and shippable orders are confirmed; the rest are held."""
    approved = set(outputs["verify_payment"]["approved"])
    stock = outputs["check_inventory"]["allocations"]
    ships = outputs["assign_shipping"]["shipments"]
    orders = outputs["receive_order"]["orders"]
    ok = [
        o
        for o in orders
        if o["order_id"] in approved
        and stock[o["order_id"]]["available"]
        and o["order_id"] in ships
    ]
    held = [o["order_id"] for o in orders if o not in ok]
    return {
        "confirmed": len(ok),
        "held": held,
        "confirmed_ids": [o["order_id"] for o in ok],
        "total_value": sum(o["amount"] for o in ok),
    }
