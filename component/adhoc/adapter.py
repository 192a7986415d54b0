"""The XEP-0050 wire format: `<command/>` iqs in, neutral results out as `<command/>` payloads.

Also the XEP-0030 side of ad-hoc commands (XEP-0050 §2): disco#items on the node
`http://jabber.org/protocol/commands` lists what the requester may run, and disco#info on a
command node describes it. Errors are raised as ApiErrors; the dispatcher maps them (a
non-admin gets `forbidden`, an unknown node `item-not-found`, a stale session `bad-request`).
"""

from __future__ import annotations

from lxml import etree

from component.adhoc.commands import Action, Ask, CommandRegistry, Note, Outcome, Requester
from component.errors import BadRequest, NotFound
from component.jid import Jid
from component.xmpp.dispatch import Dispatcher, Identity, disco_info_payload
from component.xmpp.forms import DATA_NS, build_form, find_form, parse_submission

COMMANDS_NS = "http://jabber.org/protocol/commands"
DISCO_ITEMS_NS = "http://jabber.org/protocol/disco#items"
ACTIONS: dict[str | None, Action] = {None: "execute", "execute": "execute", "next": "next",
                                     "complete": "complete", "cancel": "cancel"}


def _el(parent: etree._Element, name: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{COMMANDS_NS}}}{name}", attrib=attributes or None)


def build_command(outcome: Outcome) -> etree._Element:
    """The `<command/>` answer to one stage (XEP-0050 §3)."""
    reply = outcome.reply
    status = ("canceled" if reply is None else
              "executing" if isinstance(reply, Ask) else "completed")
    command = etree.Element(f"{{{COMMANDS_NS}}}command", nsmap={None: COMMANDS_NS},
                            node=outcome.node, sessionid=outcome.session_id, status=status)
    if isinstance(reply, Ask):
        step = "complete" if reply.final else "next"
        _el(_el(command, "actions", execute=step), step)
    if reply is not None:
        _note(command, reply.note)
        if reply.form is not None:
            command.append(build_form(reply.form))
    return command


def _note(command: etree._Element, note: Note | None) -> None:
    if note is not None:
        _el(command, "note", type=note.type).text = note.text


def parse_action(command: etree._Element) -> Action:
    action = ACTIONS.get(command.get("action"))
    if action is None:
        raise BadRequest(f"action {command.get('action')!r} is not offered here")
    form = find_form(command)
    if form is not None and form.get("type") == "cancel":
        return "cancel"  # XEP-0004 §3.2: a cancel form withdraws the stage
    return action


class AdhocAdapter:
    """Registers the command handlers with the dispatcher and speaks XEP-0050 for them."""

    def __init__(self, registry: CommandRegistry, own_jid: Jid) -> None:
        self._registry = registry
        self._own = own_jid

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register("set", f"{{{COMMANDS_NS}}}command", self.execute,
                            feature=COMMANDS_NS)
        dispatcher.register("get", f"{{{DISCO_ITEMS_NS}}}query", self.disco_items,
                            feature=DISCO_ITEMS_NS)
        dispatcher.register_node_info(self.node_info)

    def _requester(self, iq: etree._Element) -> Requester:
        return self._registry.requester(Jid.parse(iq.get("from", "")))

    async def execute(self, iq: etree._Element) -> etree._Element:
        command = iq[0]
        node = command.get("node")
        if not node:
            raise BadRequest("a command needs a node")
        action = parse_action(command)
        form = find_form(command)
        submission = (parse_submission(form) if form is not None and action != "cancel"
                      else None)
        outcome = await self._registry.execute(self._requester(iq), node, action,
                                               command.get("sessionid"), submission)
        return build_command(outcome)

    async def disco_items(self, iq: etree._Element) -> etree._Element:
        node = iq[0].get("node")
        query = etree.Element(f"{{{DISCO_ITEMS_NS}}}query", nsmap={None: DISCO_ITEMS_NS})
        if node is None:
            return query
        if node != COMMANDS_NS:
            raise NotFound(f"no node {node!r} here")
        query.set("node", node)
        for command in self._registry.visible(self._requester(iq)):
            etree.SubElement(query, f"{{{DISCO_ITEMS_NS}}}item", jid=str(self._own),
                             node=command.node, name=command.name)
        return query

    async def node_info(self, iq: etree._Element) -> etree._Element:
        """disco#info on the command list or on one command (XEP-0050 §2.3)."""
        node = iq[0].get("node", "")
        if node == COMMANDS_NS:
            query = disco_info_payload(Identity("automation", "command-list", "Commands"), [])
        else:
            command = self._registry.command(node, self._requester(iq))
            query = disco_info_payload(Identity("automation", "command-node", command.name),
                                       [COMMANDS_NS, DATA_NS])
        query.set("node", node)
        return query

