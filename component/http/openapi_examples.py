"""Example bodies of the OpenAPI document, in the config's own domains.

They show callers a working request, and schemathesis sends them first: most random bodies
are refused early, so these are what reach the success paths and check the answers' shapes.
"""

from __future__ import annotations

from typing import Any


def examples(host: str, muc: str) -> dict[str, Any]:
    """Route path (after /qtalk/) → an example body."""
    room = {"muc_id": "team", "muc_domain": muc}
    owner = {"muc_owner": "test1", "muc_owner_host": host}
    return {
        "send_message": {"From": "test1", "To": [{"User": "test2"}], "Body": "hello",
                         "Host": host},
        "send_thirdmessage": {"from": f"test1@{host}", "to": f"test2@{host}",
                              "message": '<message type="chat"><body msgType="1">hi</body>'
                                         "</message>"},
        "send_notify": {"from": f"hr@{host}", "to": [f"test2@{host}"], "category": "7",
                        "data": "{}"},
        "get_user_nick": {"ID": "test1", "Domain": host},
        "add_host": {"host": f"second.{host}"},
        "create_muc": {"muc_id": "new", "muc_domain": muc, **owner, "muc_name": "New",
                       "muc_desc": "a new team"},
        "add_muc_user": {**room, **owner, "muc_member": ["test2", f"test3@{host}"]},
        "del_muc_user": {**room, **owner, "muc_member": [f"test3@{host}"]},
        "muc_users": room,
        "send_notice_vcard": {"muc_name": f"team@{muc}", "muc_title": "Team",
                              "muc_pic": "https://example.org/team.png"},
        "management/get_muc_opts": {"muc": "team", "domain": muc},
        "management/change_muc_opts": {"muc": "team", "domain": muc, "description": "ours",
                                       "public": "false", "max_users": "200"},
        "management/del_muc_user": {"muc": "team", "domain": muc, "user": "test2",
                                    "host": host},
        "destroy_muc": {"muc_id": "old", "muc_domain": muc, "muc_owner": "test1", "host": host,
                        "reason": "done"},
        "clear_staff": {"host": host, "users": ["test9"]},
    }
