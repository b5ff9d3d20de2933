"""The CodeDeploy calls an operation may make, estimated before it runs.

The estimate reads the document with its variables applied, as if nothing were cached:
one GetDeployment per deployment, a batch read per ``BATCH_LIMIT`` of each deployment's
known ids, as many more per page of nodes, and the list pages each connection and each
``totalCount`` walks (``service.reads.costs``: what each read costs, written once).
Reads the caches would share (the same deployment, the same ids, the same page of the
same filters, in the same account and region) are counted once, as single-flight makes
them. It is the upper bound of a happy path: retries are not counted.
"""

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.execution.values import VariableValues, get_argument_values

from service.codedeploy import BATCH_LIMIT, NAMES_BATCH_LIMIT
from service.errors import InvalidRequest
from service.graphql.ids import Kind, NodeKey, entity_key
from service.reads import MAX_BATCH_IDS, costs, filters
from service.reads.costs import batch, list_pages
from service.reads.pages import MAX_COUNTED_PAGES
from service.reads.pages import MAX_PAGE_SIZE as MAX_FIRST

PageKey = tuple[Any, ...]
Where = tuple[str | None, str | None]
"""The account and region a root field names (None: the default): what its reads share."""
DEFAULT: Where = (None, None)

ROOTS = frozenset({"Query", "Subscription"})
# Ids or names one batch read takes, by the DataLoader that makes it.
LOADER_BATCHES = {
    "deployments": BATCH_LIMIT,
    "groups": NAMES_BATCH_LIMIT,
    "applications": NAMES_BATCH_LIMIT,
}


@dataclass(slots=True)
class _Tally:
    deployments: set[tuple[Where, str]] = field(default_factory=set)
    ids: defaultdict[tuple[Where, str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    pages: set[PageKey] = field(default_factory=set)
    node_batches: dict[PageKey, int] = field(default_factory=dict)
    discovery: int = 0
    """Discovery's calls, counted as they are met: their nodes multiply what they hold."""
    alone: set[tuple[Where, str, str, str]] = field(default_factory=set)
    """Ids the document chose, of a kind whose batch CodeDeploy fails whole for one
    unknown id (``costs.read_alone``): each may be read alone, a call of its own."""
    loaded: Counter[tuple[Where, str, str]] = field(default_factory=Counter)
    """Reads the operation's DataLoaders batch, by account, loader and what one batch
    read can hold together (a group's application): paid per batch."""

    def total(self) -> int:
        known = sum(batch(len(ids)) for ids in self.ids.values())
        batches = sum(
            batch(reads, LOADER_BATCHES[name]) for (_, name, _), reads in self.loaded.items()
        )
        return (
            len(self.deployments)
            + known
            + len(self.pages)
            + sum(self.node_batches.values())
            + self.discovery
            + batches
            + len(self.alone)
        )


Composite = GraphQLObjectType | GraphQLUnionType | GraphQLInterfaceType


def _fragment(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    selection: SelectionNode,
    parent: Composite,
) -> tuple[Composite, SelectionSetNode]:
    """A fragment's selections, and the type they are read on: its condition's, an
    interface's too (its fields are its implementations'), else the parent's."""
    if isinstance(selection, InlineFragmentNode):
        condition, selections = selection.type_condition, selection.selection_set
    else:
        assert isinstance(selection, FragmentSpreadNode)  # a field is not a fragment
        fragment = fragments[selection.name.value]
        condition, selections = fragment.type_condition, fragment.selection_set
    narrowed = schema.get_type(condition.name.value) if condition else parent
    if isinstance(narrowed, GraphQLObjectType | GraphQLInterfaceType):
        return narrowed, selections
    return parent, selections


@dataclass(frozen=True, slots=True)
class _Connection:
    """A connection field being walked: what its pages are keyed by, and where it starts."""

    key: PageKey
    after: str | None
    first: int


class _Estimate:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: VariableValues,
        alone: frozenset[str],
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables
        self._alone = alone
        self.tally = _Tally()
        self.per_event = 0
        """Calls each event of a subscription makes beyond what the watcher read."""
        self._unknowns = itertools.count()

    def _nested(self) -> "_Estimate":
        """An estimate of its own, for a subtree counted apart (and multiplied)."""
        return _Estimate(self._schema, self._fragments, self._variables, self._alone)

    def _chosen(self, where: Where, kind: str, parent: str, ids: Iterable[str]) -> None:
        """Ids the document names itself: read alone, at worst, if ``kind`` may be."""
        if kind in self._alone:
            self.tally.alone.update((where, kind, parent, id_) for id_ in ids)

    def _unknown(self) -> str:
        """A name for a deployment or application the document does not name."""
        return f"?{next(self._unknowns)}"

    def walk(
        self,
        parent: Composite,
        node: SelectionSetNode,
        deployment: str | None,
        connection: _Connection | None,
        where: Where = DEFAULT,
    ) -> None:
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                self._field(parent, selection, deployment, connection, where)
                continue
            narrowed, selections = _fragment(self._schema, self._fragments, selection, parent)
            self.walk(narrowed, selections, deployment, connection, where)

    def _field(
        self,
        parent: Composite,
        node: FieldNode,
        deployment: str | None,
        connection: _Connection | None,
        where: Where,
    ) -> None:
        fields = parent.fields if isinstance(parent, GraphQLObjectType) else {}
        definition = fields.get(node.name.value)
        if definition is None:  # __typename, introspection: no upstream call
            return
        args = get_argument_values(definition, node, self._variables)
        if parent.name in ROOTS:  # a root field's reads are its account's and region's
            where = (args.get("account"), args.get("region"))
        tally = self.tally
        match (parent.name, node.name.value):
            case ("Query", "deploymentInstance"):
                tally.ids[where, "instances", args["deploymentId"]].add(args["instanceId"])
                self._chosen(where, "instance", args["deploymentId"], [args["instanceId"]])
            case ("Query", "deploymentInstances"):
                tally.ids[where, "instances", args["deploymentId"]].update(args["instanceIds"])
                self._chosen(where, "instance", args["deploymentId"], args["instanceIds"])
            case ("Query", "deployment") | ("Subscription", "deploymentEvents"):
                # A subscription's first read; the watcher's later ones are shared.
                deployment = args["deploymentId"]
                tally.deployments.add((where, deployment))
                if parent.name == "Subscription":
                    self._per_event(definition.type, node, deployment, where)
            case ("Subscription", "deploymentGroupEvents" | "applicationEvents"):
                # The feed's first reads: the group (or the groups' list) and its running
                # deployments' list; each event's selection is read anew, as above.
                tally.discovery += 2
                self._per_event(definition.type, node, None, where)
            case ("Deployment", "instance"):
                tally.ids[where, "instances", deployment or ""].add(args["instanceId"])
                self._chosen(where, "instance", deployment or "", [args["instanceId"]])
            case ("Deployment", "instances" | "targets"):
                connection = self._connection(node.name.value, deployment or "", args, where)
            case (
                "ApplicationConnection" | "DeploymentGroupConnection" | "DeploymentConnection",
                "totalCount",
            ):
                tally.discovery += MAX_COUNTED_PAGES  # the pages from the first, at most
            case ("InstanceSummaryConnection" | "DeploymentTargetConnection", "totalCount"):
                assert connection is not None
                # Counting walks the pages from the first, the same pages a first page reads.
                tally.pages.update(
                    (connection.key, None, page) for page in range(MAX_COUNTED_PAGES)
                )
            case ("Query", "application"):
                tally.discovery += 1  # GetApplication
            case ("Query", "deploymentGroup") | ("Deployment", "deploymentGroup"):
                # BatchGetDeploymentGroups reads one application's groups a call.
                tally.loaded[where, "groups", args.get("applicationName") or self._unknown()] += 1
            case ("DeploymentGroup", "stats"):
                tally.discovery += costs.STATS
            case ("DeploymentGroup", "lastSuccessfulDeployment" | "lastAttemptedDeployment"):
                tally.loaded[where, "deployments", ""] += 1
                # Which deployment is not known yet: its reads are its own, shared with none.
                deployment = self._unknown()
            case (
                ("Query", "applications")
                | ("Application", "deploymentGroups")
                | ("DeploymentGroup" | "Query", "deployments")
            ):
                first = max(0, min(args.get("first", 0), MAX_FIRST))
                after = args.get("after")
                per_batch = BATCH_LIMIT if node.name.value == "deployments" else NAMES_BATCH_LIMIT
                # Its list pages, then one batch read of its nodes per `per_batch` of them.
                pages = list_pages(first, after=after is not None)
                tally.discovery += pages + batch(first, per_batch)
                connection = _Connection((where, node.name.value), after, first)
            case ("ApplicationEdge" | "DeploymentGroupEdge" | "DeploymentEdge", "node"):
                assert connection is not None
                self._each(definition.type, node, connection.first, where)
                return
            case ("Query", "node" | "nodes" | "_entities"):
                # One read of each object named, however often (the loaders share them).
                keys = list(dict.fromkeys(_named(node.name.value, args)))
                for key in keys:
                    self._read(key)
                self._each(definition.type, node, len(keys), where)
                return
            case ("InstanceSummaryEdge" | "DeploymentTargetEdge", "node"):
                assert connection is not None
                # The same list window under several aliases reads the largest one's nodes.
                where_nodes = (connection.key, connection.after)
                batches = batch(connection.first)
                tally.node_batches[where_nodes] = max(
                    tally.node_batches.get(where_nodes, 0), batches
                )
        if node.selection_set is not None:
            child = get_named_type(definition.type)
            if isinstance(child, GraphQLObjectType | GraphQLUnionType):
                self.walk(child, node.selection_set, deployment, connection, where)

    def _per_event(self, type_: Any, node: FieldNode, deployment: str | None, where: Where) -> None:
        """What each event of a subscription reads beyond what the watcher (or feed) read:
        an event carries that, and anything more is read anew for every event, its
        loaders emptied in between."""
        if node.selection_set is None:
            return
        each = self._nested()
        union = get_named_type(type_)
        assert isinstance(union, GraphQLUnionType)
        each.walk(union, node.selection_set, deployment, None, where)
        self.per_event += each.tally.total()

    def _each(self, type_: Any, node: FieldNode, count: int, where: Where) -> None:
        """What each of ``count`` objects' selection reads, a subtree of its own each: the
        objects share only the batches their DataLoaders make."""
        if node.selection_set is None or count == 0:
            return
        child = get_named_type(type_)
        assert isinstance(child, Composite)
        nested = self._nested()
        nested.walk(child, node.selection_set, None, None, where)
        loaded = nested.tally.loaded
        nested.tally.loaded = Counter()
        self.tally.discovery += count * nested.tally.total()
        for loader, reads in loaded.items():
            self.tally.loaded[loader] += count * reads

    def _read(self, key: NodeKey) -> None:
        """The read ``node(id:)`` makes of ``key``, shared as the caches share it."""
        where = (key.where.account, key.where.region)
        tally = self.tally
        match key.kind:
            case Kind.APPLICATION:
                tally.loaded[where, "applications", ""] += 1
                self._chosen(where, "application", "", key.parts)
            case Kind.DEPLOYMENT_GROUP:
                tally.loaded[where, "groups", key.parts[0]] += 1
            case Kind.DEPLOYMENT:
                tally.loaded[where, "deployments", ""] += 1
            case Kind.INSTANCE | Kind.TARGET:
                kind = "instance" if key.kind is Kind.INSTANCE else "target"
                tally.ids[where, f"{kind}s", key.parts[0]].add(key.parts[1])
                self._chosen(where, kind, key.parts[0], key.parts[1:])

    def _connection(
        self, kind: str, deployment: str, args: dict[str, Any], where: Where
    ) -> _Connection:
        first = max(0, min(args.get("first", 0), MAX_FIRST))
        after = args.get("after")
        statuses = filters(_value(status) for status in args.get("status") or ())
        types = filters(_value(kind) for kind in args.get("instanceType") or ())
        connection = _Connection((where, kind, deployment, statuses, types), after, first)
        pages = list_pages(first, after=after is not None)
        self.tally.pages.update((connection.key, after, page) for page in range(pages))
        return connection


def _named(field: str, args: dict[str, Any]) -> list[NodeKey]:
    """The objects ``node``, ``nodes`` or ``_entities`` reads: those it can name (what it
    cannot is refused without a read, as is a ``nodes`` over its limit)."""
    parse: Callable[[Any], NodeKey] = entity_key
    if field == "_entities":
        given = args["representations"]
    else:
        given, parse = args.get("ids", [args.get("id")]), NodeKey.parse
        if len(given) > MAX_BATCH_IDS:
            return []
    keys = []
    for value in given:
        try:
            keys.append(parse(value))
        except InvalidRequest:
            continue
    return keys


def _value(member: Any) -> str:
    return str(getattr(member, "value", member))


@dataclass(frozen=True, slots=True)
class Cost:
    calls: int
    """CodeDeploy calls the operation (a subscription: its first event) may make."""
    per_event: int
    """Calls each later event of a subscription may make."""


# What reads alone when the gateway reads CodeDeploy's instance calls (the default).
ALONE = costs.read_alone("instances")


def upstream_calls(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: VariableValues,
    alone: frozenset[str] = ALONE,
) -> int:
    return upstream_cost(schema, document, operation, variables, alone).calls


def upstream_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: VariableValues,
    alone: frozenset[str] = ALONE,
) -> Cost:
    """The estimate for ``operation`` of a validated ``document`` (variables coerced);
    ``alone``: the kinds ``costs.read_alone`` names for the upstream API read."""
    root = schema.get_root_type(operation.operation)
    assert root is not None  # validation found the operation's type
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    estimate = _Estimate(schema, fragments, variables, alone)
    estimate.walk(root, operation.selection_set, None, None)
    return Cost(estimate.tally.total(), estimate.per_event)


# The most items a list field other than a connection's edges can hold: CodeDeploy's
# lifecycle events for one target (EC2 behind a load balancer has 13), an ECS deployment's
# task sets (original and replacement), a deployment's status messages, rollback events
# and related deployments (a handful each; the response size limit bounds a longer list).
# The engine adds what the configuration says (accounts, regions); ``SIZED_BY``'s hold what
# they are given.
LIST_SIZES: dict[str, int] = {
    "lifecycleEvents": 13,
    "taskSetsInfo": 2,
    "deploymentStatusMessages": 20,
    "events": 3,
    "autoUpdateOutdatedInstancesDeploymentIds": 20,
}


# List fields holding one item per value of an argument.
SIZED_BY = {"deploymentInstances": "instanceIds", "nodes": "ids", "_entities": "representations"}


class _Nodes:
    """Values an operation's response may hold, counted from list sizes: each field's
    value once per item of every list above it (a connection's ``edges``: its ``first``).
    Every branch of a fragment counts, so a union's selection is over-, never under-,
    counted."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: VariableValues,
        sizes: dict[str, int],
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables
        self._sizes = sizes

    def count(self, parent: Composite, node: SelectionSetNode, page: int) -> int:
        total = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                total += self._field(parent, selection, page)
                continue
            narrowed, selections = _fragment(self._schema, self._fragments, selection, parent)
            total += self.count(narrowed, selections, page)
        return total

    def _field(self, parent: Composite, node: FieldNode, page: int) -> int:
        fields = parent.fields if not isinstance(parent, GraphQLUnionType) else {}
        definition = fields.get(node.name.value)
        if definition is None:  # __typename, introspection (bounded by the depth limit)
            return 1
        args = get_argument_values(definition, node, self._variables)
        if "first" in args:  # a connection: its edges hold a page
            page = max(0, min(args["first"], MAX_FIRST))
        items = 1
        if is_list_type(get_nullable_type(definition.type)):
            name = node.name.value
            if name == "edges":
                items = page
            elif name in SIZED_BY:
                items = len(args[SIZED_BY[name]])
            else:
                items = self._sizes[name]
        child = get_named_type(definition.type)
        inner = 0
        if node.selection_set is not None and isinstance(
            child, GraphQLObjectType | GraphQLUnionType | GraphQLInterfaceType
        ):
            inner = self.count(child, node.selection_set, page)
        return items * (1 + inner)


def result_nodes(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: VariableValues,
    sizes: dict[str, int],
) -> int:
    """How many values ``operation``'s response may hold; ``sizes`` adds the list sizes
    the configuration decides (``accounts``, ``regions``) to ``LIST_SIZES``."""
    root = schema.get_root_type(operation.operation)
    assert root is not None
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    counted = _Nodes(schema, fragments, variables, {**LIST_SIZES, **sizes})
    return counted.count(root, operation.selection_set, 0)
