"""The benchmark corpus: French notification and marketing SMS, as a French sender writes them.

Four categories, chosen for what they cost the codec:

``short``
    Transactional notifications (order and delivery updates, appointment reminders, one-time
    codes): GSM-7, one part, well under 160 septets. The bulk of a notification platform's traffic.
``~160``
    Marketing texts written to fill one SMS: GSM-7, 135 to 160 septets, ending in the mandatory
    "STOP au 36xxx". The most common marketing shape.
``2-5 parts``
    Long GSM-7 texts (newsletters, terms of an offer) of 2 to 5 concatenated parts, several with
    extension characters (€ [ ] ~ |) that cost 2 septets and must not be cut across parts.
``ucs2+emoji``
    Texts that need UCS-2: emoji (beyond the BMP, 2 units each) and French typography
    (’ « » … ç ê œ) that GSM-7 lacks; one part or several.

``TEXT_160`` is one fixed GSM-7 text of exactly 160 septets (the most one SMS holds), used for
the absolute per-call figure. ``bench/codec.py`` checks every property stated here (encoding,
septets/units, part count) before it times anything, so the corpus cannot drift silently.

The texts avoid the characters smpplib maps wrongly (`` ` `` and ``§``, form feed; reference
section 14), so that smpplib does the same kind of work as our codec on each text.
"""

from __future__ import annotations

SHORT: tuple[str, ...] = (
    "Votre code: 482913",
    "Votre code de vérification est 730 518. Il expire dans 10 minutes. Ne le communiquez à "
    "personne.",
    "MaBanque: code de validation 215 907 pour le paiement de 49,90 EUR chez FNAC.COM.",
    "Commande A-20931 confirmée ! Montant: 74,50 EUR. Suivi: https://mb.fr/c/A20931",
    "Votre colis 6A19483726 est en cours de livraison. Livraison prévue demain entre 9h et 13h.",
    "Colis livré en point relais Tabac du Marché, 12 rue Victor Hugo. Retrait avant le 14/03.",
    "Rappel: RDV le mardi 12/03 à 14h30 avec Dr Martin, cabinet de la Gare. Pour annuler: "
    "01 45 67 89 12",
    "Rappel RDV demain 9h15 - Garage Dupuis, révision 30 000 km. Répondez OUI pour confirmer.",
    "Votre rendez-vous coiffure chez Elodie est confirmé le samedi 16/03 à 10h00.",
    "Votre facture de février (38,99 EUR) est disponible dans votre espace client.",
    "Alerte: votre solde est de 112,40 EUR au 05/03. MaBanque",
    "Le technicien passera le 08/04 entre 8h et 12h. Merci de laisser l'accès au compteur.",
    "Bonjour Julie, votre table pour 4 personnes est réservée ce soir à 20h. A tout à l'heure !",
    "Votre ordonnance est disponible à la Pharmacie du Centre. Horaires: 9h-19h30.",
    "SNCF: votre train TGV 6107 Paris-Lyon du 21/03 part voie 11. Bon voyage !",
    "Votre mot de passe a été modifié. Si ce n'est pas vous, appelez le 09 69 32 15 15.",
    "Cours de yoga de jeudi 18h annulé. Prochaine séance le 28/03 à 18h.",
    "Votre retrait de 60 EUR au DAB a été enregistré. Solde: 1 204,18 EUR.",
)

NEAR_160: tuple[str, ...] = (
    "SOLDES D'HIVER ! Jusqu'à -50% sur toute la mode femme, homme et enfant, du 10 au 31 "
    "janvier en magasin et sur notre site. Code WEB10. STOP au 36184",
    "Ventes privées Maison & Déco: -40% sur le linge de lit, -30% sur les luminaires. "
    "Réservé aux membres jusqu'à dimanche minuit. mb.fr/vp STOP au 36105",
    "Votre boulangerie Le Fournil vous offre 1 croissant pour 5 achetés tout le mois de mars. "
    "Présentez ce SMS en caisse. Offre non cumulable. STOP au 36111",
    "Spécial maman: 20% offerts sur les bijoux et la parfumerie du 20 au 26 mai avec le code "
    "MAMAN20 sur notre site et en boutique. STOP au 36173",
    "Dernier jour ! Livraison offerte dès 39 EUR d'achat sur tout le site, sans code. Commandez "
    "avant minuit pour recevoir vos articles lundi. STOP au 36200",
    "Garage Dupuis: votre révision annuelle arrive à échéance le 30/04. Prenez RDV en ligne "
    "et profitez de -15% sur la vidange. STOP au 36117",
    "Nouveau chez Pizza Roma: la Calzone truffe ! 2 pizzas achetées = la 3e offerte, ce "
    "week-end uniquement, sur place ou à emporter. STOP au 36184",
    "Salon de l'Habitat les 15, 16 et 17 mars au Parc des Expositions. Entrée gratuite avec ce "
    "SMS pour 2 personnes. Plus d'infos: mb.fr/salon STOP au 36111",
    "Opticien Lumière: vos 2e lunettes pour 1 EUR de plus, verres anti-lumière bleue inclus. "
    "Offre valable jusqu'au 15 avril en magasin. STOP au 36105",
    "Happy hour chez Sport Plus ! De 18h à 20h ce vendredi, -25% sur les chaussures running "
    "et le textile, dans tous nos magasins. STOP au 36200",
    "Votre magasin Bio Nature a 10 ans: une remise de 10% sur tout le magasin et des "
    "dégustations samedi 23 mars toute la journée. STOP au 36173",
    "Fin de série: jusqu'à -70% sur l'électroménager (lave-linge, frigos, fours). Stocks "
    "limités, premiers arrivés premiers servis ! STOP au 36117",
    "Vous nous manquez ! Voici 15 EUR offerts dès 60 EUR d'achat avec le code RETOUR15, "
    "valable 7 jours sur tout le site. mb.fr STOP au 36184",
    "Cinéma Le Palace: le mardi c'est 5,50 EUR la place pour tous les films et toutes les "
    "séances. Réservez sur mb.fr et évitez la file d'attente ! STOP au 36105",
    "Salon Elodie: -20% sur les colorations et balayages du lundi au mercredi, tout le mois "
    "d'avril. Prenez RDV au 02 40 12 34 56 ou sur mb.fr/elodie STOP au 36117",
    "Jardinerie Verte: arrivage de plants de tomates et d'aromatiques ! 3 achetés, le 4e "
    "offert jusqu'au 30 avril. Conseils gratuits en magasin. STOP au 36111",
)

MULTIPART: tuple[str, ...] = (
    # 2 parts
    "[PROMO] Printemps chez Jardimax: les rosiers à 9,90€ au lieu de 14,90€, le terreau 50L à "
    "5€, et -20% sur tout le mobilier de jardin jusqu'au 31 mars. Livraison à domicile offerte "
    "dès 150€ d'achat dans un rayon de 30 km. STOP au 36184",
    "Chère cliente, cher client, votre carte de fidélité arrive à expiration le 31/03. Pour la "
    "renouveler gratuitement et conserver vos 1 250 points, rendez-vous dans votre magasin ou "
    "sur votre espace client avant cette date. STOP au 36105",
    "[RAPPEL] Votre contrat d'assurance habitation HA-447120 sera renouvelé le 01/05. Nouvelle "
    "cotisation: 23,40€/mois. Pour toute question, votre conseiller est joignable au "
    "01 44 55 66 77 du lundi au vendredi de 9h à 18h.",
    "Bonjour, suite à votre demande, votre remboursement de 86,20€ a été validé et sera crédité "
    "sur votre compte sous 3 à 5 jours ouvrés. Référence dossier: [R-2024-118532]. Merci de "
    "votre confiance. Le service client",
    "Mairie de Villeneuve: en raison des travaux rue Pasteur, la collecte des déchets du "
    "mercredi 13/03 est décalée au jeudi 14/03. Merci de sortir vos bacs la veille au soir "
    "après 19h. Infos: villeneuve.fr/travaux",
    # 3 parts
    "[OFFRE EXCLUSIVE] Pour les 5 ans de notre boutique en ligne, profitez de -30% sur toute la "
    "collection printemps-été avec le code ANNIV30, de la livraison offerte sans minimum "
    "d'achat et d'un cadeau surprise dans chaque colis de plus de 80€. Offre valable du 1er au "
    "7 avril inclus, dans la limite des stocks disponibles. Retours gratuits sous 30 jours. "
    "STOP au 36200",
    "Conditions de l'offre: remise de 10€ dès 50€ d'achat, 25€ dès 100€ et 60€ dès 200€, hors "
    "produits signalés par [*] en rayon et hors cartes cadeaux. Une seule utilisation par "
    "foyer, non cumulable avec d'autres promotions en cours. Valable jusqu'au 15/04 sur "
    "présentation de ce SMS en caisse. STOP au 36173",
    "Votre agence immobilière vous informe: 3 nouveaux biens correspondent à votre recherche "
    "[T3, Lyon 7e, budget ~320 000€]. Appartement de 68 m2 avec balcon à 298 000€, 72 m2 "
    "rénové à 315 000€, 65 m2 proche métro à 289 000€. Visites possibles dès samedi, "
    "appelez-nous au 04 72 11 22 33. STOP au 36111",
    # 4 parts
    "Newsletter de mars | Au programme ce mois-ci: nos ateliers cuisine reprennent le samedi "
    "matin (15€ la séance, inscription en magasin), le marché des producteurs locaux s'installe "
    "sur le parking chaque dimanche de 8h à 13h, et notre rayon vrac s'agrandit avec 40 "
    "nouvelles références de céréales, légumineuses et fruits secs. Pour célébrer le printemps, "
    "-15% sur toutes les graines et les plants potagers jusqu'au 31/03. Rappel: le magasin sera "
    "fermé le lundi 1er avril. A très vite ! STOP au 36184",
    "Information importante concernant votre abonnement: à compter du 1er mai, le tarif de "
    "votre forfait Fibre passera de 29,99€ à 32,99€ par mois [hausse de 3€]. Cette évolution "
    "s'accompagne d'un débit montant doublé et de l'accès inclus à 40 chaines TV. Si vous ne "
    "souhaitez pas conserver votre offre, vous pouvez résilier sans frais dans un délai de "
    "4 mois à compter de la date d'entrée en vigueur, depuis votre espace client ou au 3900.",
    # 5 parts
    "Chers parents, voici les informations pour la sortie scolaire du vendredi 12 avril au "
    "parc zoologique. Départ en car à 8h15 devant l'école, retour prévu vers 17h30 au "
    "portail. Prévoir un pique-nique, une gourde, une casquette et une tenue adaptée à la "
    "météo. La participation de 12€ par enfant est à régler avant le 5 avril, par chèque à "
    "l'ordre de la coopérative scolaire ou en espèces dans une enveloppe au nom de l'enfant. "
    "Nous recherchons encore 3 parents accompagnateurs: merci de vous signaler auprès de "
    "l'enseignant. Les enfants devront porter le tee-shirt de l'école. En cas de pluie, la "
    "sortie sera reportée au vendredi 19 avril. Merci ! L'équipe enseignante",
    "[VENTE FLASH 48H] Tout le rayon high-tech à prix cassés: casque sans fil 89€ au lieu de "
    "149€, enceinte connectée 49€ au lieu de 79€, montre sport GPS 129€ au lieu de 199€, "
    "tablette 10 pouces 179€ au lieu de 249€, et jusqu'à -40% sur les accessoires [coques, "
    "chargeurs, cordons]. Paiement en 3 ou 4 fois sans frais dès 100€ d'achat. Retrait en "
    "magasin en 2h ou livraison express en 24h. Offre valable du samedi 9h au lundi 9h ou "
    "jusqu'à épuisement des stocks, dans la limite de 2 articles identiques par client. "
    "Retrouvez toutes les offres sur notre application. STOP au 36200",
)

UCS2: tuple[str, ...] = (
    # one part (at most 70 UTF-16 units)
    "🎉 Votre commande est en route ! Suivez-la ici: mb.fr/s/8JK2",
    "Votre code: 482913 🔐",
    "C’est l’heure de votre RDV chez Dr Martin ⏰ à 14h30",
    "Joyeux anniversaire Julie 🎂 ! -20% pour vous avec le code BDAY20",
    "📦 Colis déposé dans votre boîte aux lettres. Bonne journée !",
    "Merci pour votre avis ⭐⭐⭐⭐⭐ : ça nous fait très plaisir !",
    "« Noël approche » 🎄 : jusqu’à -30% sur les jouets… STOP au 36105",
    "Votre séance de sport est confirmée ✅ demain 18h. À très vite 💪",
    # several parts
    "🔥 SOLDES 🔥 Jusqu’à -60% sur une sélection mode & déco ! Profitez-en dès maintenant "
    "en magasin et sur l’appli 📱 STOP au 36184",
    "Bonjour Hélène 👋 Votre panier vous attend : la robe « Bohème » et les sandales "
    "tressées sont encore disponibles… mais plus pour longtemps ⏳ Finalisez votre commande "
    "avec -10% : PANIER10. STOP au 36200",
    "🌸 Fête des mères 🌸 Offrez-lui un bouquet de pivoines fraîches livré le jour même, "
    "à partir de 29,90 €. Commandez avant 14h ✨ Message personnalisé offert ❤️ "
    "STOP au 36173",
    "Reçu ! 🙏 Votre réclamation n°R-558102 a bien été enregistrée. Un conseiller vous "
    "rappellera sous 48 h ouvrées. En attendant, retrouvez nos réponses aux questions "
    "fréquentes sur l’espace d’aide 💬",
    "🍕 Ce soir c’est pizza ! La 2ᵉ à moitié prix sur toute la carte, en livraison ou à "
    "emporter 🛵 Commandez sur l’appli avant 21h. Bon appétit 😋 STOP au 36111",
    "Chère adhérente, cher adhérent 🏊 La piscine ferme pour vidange du 1er au 14 août. "
    "Pendant cette période, l’accès à la salle de cardio reste ouvert de 7h à 21h 💪 "
    "Les cours d’aquagym reprendront le lundi 16 août à 19h. Bon été à toutes et à tous ☀️ "
    "L’équipe du Centre aquatique « Les Dauphins »",
    "🎁 Programme fidélité : vous avez cumulé 1 250 points, soit un bon d’achat de 12,50 € "
    "à utiliser avant le 30 juin… Pensez-y ! Et ce week-end, les points sont doublés sur "
    "les rayons épicerie fine 🧀🍷 et boulangerie 🥖. Détails en magasin ou sur l’appli. "
    "STOP au 36105",
)

#: Categories in report order.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "short": SHORT,
    "~160": NEAR_160,
    "2-5 parts": MULTIPART,
    "ucs2+emoji": UCS2,
}

#: Exactly 160 septets of GSM-7 (no extension characters): the largest single SMS.
TEXT_160 = (
    "SOLDES D'ETE: -50% sur la mode, -30% sur la maison et déco, du 26 juin au 23 juillet "
    "en magasin et sur mb.fr avec le code ETE50. Bonnes affaires ! STOP au 36184"
)
