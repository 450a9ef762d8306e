"""The seed's (004, chat-workflow) create-conversation request, shared by the 8x8 tests."""

from __future__ import annotations

# The seed's create-conversation body, byte for byte (note " 123", " AccountType" and the mangled email).
SEED_CREATE_BODY = """
{
"user": {
"language": "en",
"name": "James Jones",
"email": "[email protected]",
"phone": "013453403332",
"additionalProperties": [
{
"key": "Authenticated",
"value": "yes"
},
{
"key": "Intent",
"value": "balance"
},
{
"key":" AccountType",
"value": "credit"
}
]
},
"assignment": {
"type": "queue",
"id":" 123"
},
"history": {
"messages": [
{
"authorType": "user",
"text": "Hello, can I get my balance please"
},
{
"authorType": "bot",
"text": "Sure, what is your account number"
},
{
"authorType": "user",
"text": "123456"
},
{
"authorType": "bot",
"text": "Your balance is £12.34"
},
{
"authorType": "user",
"text": "Thanks, please can I speak to an agent "
},
{
"authorType": "bot",
"text": "Sure, connecting you now"
}
]
},
"channelId": "f5odm43occnifcdcsa"
}
"""
