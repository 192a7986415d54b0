"""qtalk-component: the QTalk/Startalk integration HTTP API as an XEP-0114 component."""

__version__ = "0.1.0"
